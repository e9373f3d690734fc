import ControlProtocol

/// The voice kind's own events: what a relay counted and what each client said and heard.
/// The voice analysis reads them; the control protocol carries them as `Event.other`.
public enum VoiceEvent: KindEvent {
    /// The kind's name, as `deploy` steps and `deployed` events give it (the relay's
    /// `RelayInstance.kind`, which cannot import this; a test holds them equal).
    public static let kind = "voice-relay"

    /// The relay's counters at the end: data packets received, copies forwarded and their
    /// bytes, packets dropped because nobody sends from their address or because they are not RTP.
    case relayTraffic(
        service: String, received: Int, forwarded: Int, forwardedBytes: Int, unknownSender: Int, malformed: Int)
    /// The client began a talk spurt: `audio` (path as given), from `from` seconds into it,
    /// `frames` frames long, on its RTP stream `ssrc` (`0x` + 8 hex digits), from frame `slot`
    /// of the stream on (slot 0: the stream's first frame; silence between spurts takes slots).
    case speaking(service: String, ssrc: String, audio: String, from: Double, frames: Int, slot: Int)
    /// The client finished speaking: frames sent, and how late the latest one left against its
    /// schedule (a monotonic clock, 20 ms a frame from the first).
    case spoke(service: String, ssrc: String, frames: Int, maxLateMs: Double)
    /// What the client heard from one speaker: the WAV written (`file`), frames in it, frames
    /// concealed (their packet was lost), frames of silence between talk spurts, packets
    /// received, and packets that were not RTP.
    case heard(
        service: String, ssrc: String, file: String, frames: Int, concealed: Int, silent: Int, packets: Int,
        malformed: Int)

    public var name: String {
        switch self {
        case .relayTraffic: "relay-traffic"
        case .speaking: "speaking"
        case .spoke: "spoke"
        case .heard: "heard"
        }
    }

    public var fields: [String: JSONValue] {
        switch self {
        case .relayTraffic(
            let service, let received, let forwarded, let forwardedBytes, let unknownSender, let malformed):
            [
                "service": .string(service), "received": .int(received), "forwarded": .int(forwarded),
                "forwardedBytes": .int(forwardedBytes), "unknownSender": .int(unknownSender),
                "malformed": .int(malformed),
            ]
        case .speaking(let service, let ssrc, let audio, let from, let frames, let slot):
            [
                "service": .string(service), "ssrc": .string(ssrc), "audio": .string(audio), "from": .number(from),
                "frames": .int(frames), "slot": .int(slot),
            ]
        case .spoke(let service, let ssrc, let frames, let maxLateMs):
            [
                "service": .string(service), "ssrc": .string(ssrc), "frames": .int(frames),
                "maxLateMs": .number(maxLateMs),
            ]
        case .heard(let service, let ssrc, let file, let frames, let concealed, let silent, let packets, let malformed):
            [
                "service": .string(service), "ssrc": .string(ssrc), "file": .string(file), "frames": .int(frames),
                "concealed": .int(concealed), "silent": .int(silent), "packets": .int(packets),
                "malformed": .int(malformed),
            ]
        }
    }

    public init?(name: String, fields f: [String: JSONValue]) {
        func int(_ key: String) -> Int? { f[key]?.integer }
        guard let service = f["service"]?.string else { return nil }
        let ssrc = f["ssrc"]?.string
        switch name {
        case "relay-traffic":
            guard let received = int("received"), let forwarded = int("forwarded"), let bytes = int("forwardedBytes"),
                let unknown = int("unknownSender"), let malformed = int("malformed")
            else { return nil }
            self = .relayTraffic(
                service: service, received: received, forwarded: forwarded, forwardedBytes: bytes,
                unknownSender: unknown, malformed: malformed)
        case "speaking":
            guard let ssrc, let audio = f["audio"]?.string, let from = f["from"]?.double, let frames = int("frames"),
                let slot = int("slot")
            else { return nil }
            self = .speaking(service: service, ssrc: ssrc, audio: audio, from: from, frames: frames, slot: slot)
        case "spoke":
            guard let ssrc, let frames = int("frames"), let late = f["maxLateMs"]?.double else { return nil }
            self = .spoke(service: service, ssrc: ssrc, frames: frames, maxLateMs: late)
        case "heard":
            guard let ssrc, let file = f["file"]?.string, let frames = int("frames"), let concealed = int("concealed"),
                let silent = int("silent"), let packets = int("packets"), let malformed = int("malformed")
            else { return nil }
            self = .heard(
                service: service, ssrc: ssrc, file: file, frames: frames, concealed: concealed, silent: silent,
                packets: packets, malformed: malformed)
        default:
            return nil
        }
    }
}
