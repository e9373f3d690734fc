import ControlProtocol
import VoiceWire

/// The `voice` section of report.json: the relays' own counters, what each speaker said, and
/// what each listener heard (its WAV, relative to the run folder), from the peers' events.
public struct VoiceFigures: Sendable, Equatable, Codable {
    public var relays: [Relay]
    public var speakers: [Speaker]
    public var recordings: [Recording]
    /// `service-failed` events: deploys and clients that did not work.
    public var failures: [String]

    /// One relay's counters at the end of the run.
    public struct Relay: Sendable, Equatable, Codable {
        public var peer: String
        public var service: String
        public var received: Int
        public var forwarded: Int
        public var forwardedBytes: Int
        public var unknownSender: Int
        public var malformed: Int
    }

    /// One talk spurt.
    public struct Speaker: Sendable, Equatable, Codable {
        public var peer: String
        public var ssrc: String
        /// The WAV said, relative to the repository root, and how far into it the spurt began.
        public var audio: String
        public var fromSeconds: Double
        public var frames: Int
        /// The spurt's first frame on the speaker's stream (0: the stream's first frame).
        public var slot: Int
        /// Frames sent by the end (nil: still speaking when the run ended).
        public var sent: Int?
        /// How late the latest frame left against its 20 ms schedule.
        public var maxLateMs: Double?
    }

    /// One talk spurt as it lies in a recording: from frame `atFrame` on, `frames` frames of the
    /// source, said from `fromSeconds` into it.
    public struct Spurt: Sendable, Equatable, Codable {
        public var atFrame: Int
        public var frames: Int
        public var fromSeconds: Double
    }

    /// What one listener heard from one speaker.
    public struct Recording: Sendable, Equatable, Codable {
        public var receiverName: String
        public var ssrc: String
        /// The WAV written, relative to the run folder (`audio/<receiver>-from-<ssrc>.wav`).
        public var file: String
        /// The speaker's WAV, relative to the repository root, when known.
        public var sourceAudio: String?
        /// Where each talk spurt of the speaker lies in the recording (from its first spurt).
        public var spurts: [Spurt]
        public var frames: Int
        public var concealed: Int
        /// Frames of the speaker's silence between talk spurts.
        public var silent: Int
        public var packets: Int
        public var malformed: Int
    }

    /// The figures, or nil when the run had no voice service.
    public init?(events: [EventLine]) {
        relays = []
        speakers = []
        recordings = []
        failures = []
        // Another kind's failures are its own section's.
        var otherServices: Set<String> = []
        for line in events {
            if case .deployed(let service, let kind, _, _) = line.event, kind != VoiceEvent.kind {
                otherServices.insert(service)
            }
            if case .serviceFailed(let service, let reason) = line.event, !otherServices.contains(service) {
                failures.append("\(line.peer): \(service): \(reason)")
            }
            switch line.event.as(VoiceEvent.self) {
            case .relayTraffic(let service, let received, let forwarded, let bytes, let unknown, let malformed):
                relays.append(
                    Relay(
                        peer: line.peer, service: service, received: received, forwarded: forwarded,
                        forwardedBytes: bytes,
                        unknownSender: unknown, malformed: malformed))
            case .speaking(_, let ssrc, let audio, let from, let frames, let slot):
                speakers.append(
                    Speaker(peer: line.peer, ssrc: ssrc, audio: audio, fromSeconds: from, frames: frames, slot: slot))
            case .spoke(_, let ssrc, let frames, let maxLateMs):
                if let index = speakers.lastIndex(where: { $0.ssrc == ssrc }) {
                    speakers[index].sent = frames
                    speakers[index].maxLateMs = maxLateMs
                }
            case .heard(_, let ssrc, let file, let frames, let concealed, let silent, let packets, let malformed):
                let name = file.split(separator: "/").last.map(String.init) ?? file
                recordings.append(
                    Recording(
                        receiverName: line.peer, ssrc: ssrc, file: "audio/" + name, sourceAudio: nil, spurts: [],
                        frames: frames, concealed: concealed, silent: silent, packets: packets, malformed: malformed))
            case nil:
                break
            }
        }
        for index in recordings.indices {
            let spurts = speakers.filter { $0.ssrc == recordings[index].ssrc }.sorted { $0.slot < $1.slot }
            recordings[index].sourceAudio = spurts.first?.audio
            recordings[index].spurts = spurts.map {
                Spurt(
                    atFrame: $0.slot.saturatingSubtract(spurts[0].slot), frames: $0.frames, fromSeconds: $0.fromSeconds)
            }
        }
        if relays.isEmpty && speakers.isEmpty && recordings.isEmpty && failures.isEmpty { return nil }
    }

    /// The speaker's WAV for each SSRC said in the run.
    public var sourceAudio: [String: String] {
        Dictionary(speakers.map { ($0.ssrc, $0.audio) }, uniquingKeysWith: { first, _ in first })
    }
}
