import ControlProtocol
import Foundation
import Mobility
import OverlayCore
import PeerNode
import RTP
import Registry
import ServiceRuntime
import Voice
import VoiceRelay
import VoiceWire

/// Voice clients in a peer (`voice-client`): each joins a relay, speaks what it is told and
/// records what it hears. At the end it writes one WAV per speaker each client heard:
/// `<recordings>/<peer>-from-<ssrc>.wav`. The relays themselves run in `ServiceRuntime`.
public actor VoiceClients: PeerApplication {
    private var clients: [String: (client: VoiceClient, recordings: String)] = [:]

    /// Work that outlives the call that starts it (the clients' registry lookups): each runs as
    /// a child of `run(peer:)`.
    private let jobs = ChildJobs()

    public init() {}

    public func run(peer: PeerContext) async {
        await jobs.run()
    }

    /// Takes `client` commands of the voice relay's kind. Parameters: `speak` (a WAV file),
    /// `from` and `for` (seconds into it and how long), `band` and `quality` (Speex).
    public func obey(_ command: PeerCommand, peer: PeerContext) async -> Bool {
        guard case .client(let service, let kind, let folder, let parameters) = command, kind == RelayInstance.kind
        else { return false }
        func text(_ key: String) -> String? { parameters[key]?.string }
        func number(_ key: String) -> Double? { parameters[key]?.double }
        let known: Set<String> = ["speak", "from", "for", "band", "quality"]
        if let unknown = parameters.keys.sorted().first(where: { !known.contains($0) }) {
            peer.emit(.serviceFailed(service: service, reason: "a voice client takes no parameter '\(unknown)'"))
            return true
        }
        guard let quality = Int(exactly: number("quality") ?? 8), (0...10).contains(quality),
            (number("from") ?? 0) >= 0, (number("for") ?? 1) > 0
        else {
            peer.emit(.serviceFailed(service: service, reason: "malformed voice client parameters: \(parameters)"))
            return true
        }
        await client(
            service, speak: text("speak"), from: number("from") ?? 0, length: number("for"), recordings: folder,
            band: text("band") ?? "wideband", quality: quality, peer: peer)
        return true
    }

    /// A client's own stream of the peer's seed.
    static func seed(of service: String, peer: PeerContext) -> UInt64 {
        var generator = SeededGenerator(seed: peer.seed).derived("voice client \(service)")
        return generator.next()
    }

    public func finish(peer: PeerContext) async {
        for (service, entry) in clients.sorted(by: { $0.key < $1.key }) {
            let heard = await entry.client.finish()
            for speaker in heard {
                let ssrc = RTPPacket.ssrcText(speaker.ssrc)
                let file = "\(entry.recordings)/\(peer.name)-from-\(ssrc).wav"
                do {
                    try WAVFile(sampleRate: entry.client.band.sampleRate, samples: speaker.samples).write(path: file)
                } catch {
                    peer.emit(.serviceFailed(service: service, reason: "cannot write \(file): \(error)"))
                    continue
                }
                peer.emit(
                    VoiceEvent.heard(
                        service: service, ssrc: ssrc, file: file,
                        frames: speaker.samples.count / entry.client.band.frameSize,
                        concealed: speaker.concealed, silent: speaker.silent, packets: speaker.packets,
                        malformed: entry.client.malformed
                    ).event)
            }
            let rejected = await entry.client.connection.closingRejections()
            if !rejected.isEmpty { peer.emit(.rejected(counts: rejected)) }
        }
        clients = [:]
        jobs.finish()
    }

    private func client(
        _ service: String, speak: String?, from: Double, length: Double?, recordings: String, band bandName: String,
        quality: Int, peer: PeerContext
    ) async {
        guard let band = SpeexBand(rawValue: bandName) else {
            return peer.emit(.serviceFailed(service: service, reason: "unknown band '\(bandName)'"))
        }
        var samples: [Int16]?
        if let speak {
            do {
                let audio = try WAVFile.read(path: speak)
                guard audio.sampleRate == band.sampleRate else {
                    return peer.emit(
                        .serviceFailed(
                            service: service,
                            reason:
                                "\(speak) is sampled at \(audio.sampleRate) Hz; \(bandName) needs \(band.sampleRate) Hz"
                        ))
                }
                let first = min(audio.samples.count, Int(from * Double(band.sampleRate)))
                let count = length.map { Int($0 * Double(band.sampleRate)) } ?? audio.samples.count
                samples = Array(audio.samples[first..<min(audio.samples.count, first + count)])
            } catch {
                return peer.emit(.serviceFailed(service: service, reason: "cannot read \(speak): \(error)"))
            }
        }
        let client: VoiceClient
        if let joined = clients[service]?.client {
            client = joined
        } else {
            do {
                try FileManager.default.createDirectory(atPath: recordings, withIntermediateDirectories: true)
                client = try await VoiceClient.join(
                    as: peer.name.description, address: peer.address, band: band, quality: quality,
                    seed: Self.seed(of: service, peer: peer), group: peer.group, logger: peer.logger,
                    resolve: { [jobs] answer in jobs.spawn { answer(await peer.resolve(service)?.hosts.first) } })
            } catch {
                return peer.emit(.serviceFailed(service: service, reason: "cannot join: \(error)"))
            }
            clients[service] = (client, recordings)
            let joined = await client.whereabouts()
            peer.emit(
                .clientJoined(
                    service: service, participant: Int(joined.participant), control: joined.control,
                    data: joined.relayData, local: client.localDataAddress))
        }
        guard let samples, let speak else { return }
        do {
            let frames = (samples.count + band.frameSize - 1) / band.frameSize
            let slot = try await client.speak(samples) { spoken in
                peer.emit(
                    VoiceEvent.spoke(
                        service: service, ssrc: RTPPacket.ssrcText(spoken.ssrc), frames: spoken.frames,
                        maxLateMs: spoken.maxLate.inMilliseconds
                    ).event)
            }
            peer.emit(
                VoiceEvent.speaking(
                    service: service, ssrc: RTPPacket.ssrcText(client.ssrc), audio: speak, from: from, frames: frames,
                    slot: slot
                ).event)
        } catch {
            peer.emit(.serviceFailed(service: service, reason: "cannot speak: \(error)"))
        }
    }
}
