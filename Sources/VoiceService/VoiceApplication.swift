import ControlProtocol
import Foundation
import OverlayCore
import PeerNode
import Registry
import Voice
import VoiceRelay

/// Voice in a peer: hosts voice relays (`deploy` with kind `voice-relay`) and runs voice
/// clients (`voice-client`), and reports both to the coordinator. At the end it writes one WAV
/// per speaker each client heard: `<recordings>/<peer>-from-<ssrc>.wav`.
public actor VoiceApplication: PeerApplication {
    private var relays: [String: RelayShell] = [:]
    private var clients: [String: (client: VoiceClient, recordings: String)] = [:]
    /// How long a relay's registry record lives without renewal (the host renews at a third).
    public static let lease: Duration = .seconds(10)

    public init() {}

    public func obey(_ command: PeerCommand, peer: PeerContext) async -> Bool {
        switch command {
        case .deploy(let service, let kind) where kind == RelayShell.kind:
            await deploy(service, peer: peer)
            return true
        case .voiceClient(let service, let speak, let from, let length, let recordings, let band, let quality):
            await client(
                service, speak: speak, from: from, length: length, recordings: recordings, band: band, quality: quality,
                peer: peer)
            return true
        default:
            return false
        }
    }

    public func finish(peer: PeerContext) async {
        for (service, entry) in clients.sorted(by: { $0.key < $1.key }) {
            let heard = await entry.client.finish()
            for speaker in heard {
                let ssrc = Self.hex(speaker.ssrc)
                let file = "\(entry.recordings)/\(peer.name)-from-\(ssrc).wav"
                do {
                    try WAVFile(sampleRate: entry.client.band.sampleRate, samples: speaker.samples).write(path: file)
                } catch {
                    peer.emit(.serviceFailed(service: service, reason: "cannot write \(file): \(error)"))
                    continue
                }
                peer.emit(
                    .heard(
                        service: service, ssrc: ssrc, file: file, frames: speaker.samples.count / entry.client.band.frameSize,
                        concealed: speaker.concealed, silent: speaker.silent, packets: speaker.packets,
                        malformed: entry.client.malformed))
            }
        }
        clients = [:]
        for (service, relay) in relays.sorted(by: { $0.key < $1.key }) {
            if let state = try? await relay.state() { peer.emit(Self.traffic(service, state)) }
            await relay.close()
        }
        relays = [:]
    }

    private func deploy(_ service: String, peer: PeerContext) async {
        guard relays[service] == nil else {
            return peer.emit(.serviceFailed(service: service, reason: "already deployed on this peer"))
        }
        let relay: RelayShell
        do {
            relay = try await RelayShell.start(
                service: service, address: peer.address, group: peer.group, logger: peer.logger,
                onEvent: { event in
                    switch event {
                    case .joined(let participant):
                        peer.emit(
                            .membership(service: service, participant: Int(participant.id), name: participant.name, change: "joined"))
                    case .left(let participant):
                        peer.emit(
                            .membership(service: service, participant: Int(participant.id), name: participant.name, change: "left"))
                    }
                })
        } catch {
            return peer.emit(.serviceFailed(service: service, reason: "cannot bind on \(peer.address): \(error)"))
        }
        let record = ServiceRecord(name: service, hosts: [relay.controlAddress], epoch: 1, lease: Self.lease)
        guard await peer.register(record) else {
            await relay.close()
            return peer.emit(.serviceFailed(service: service, reason: "the registry did not store the record"))
        }
        relays[service] = relay
        peer.emit(.deployed(service: service, kind: RelayShell.kind, control: relay.controlAddress, data: relay.dataAddress))
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
                            reason: "\(speak) is sampled at \(audio.sampleRate) Hz; \(bandName) needs \(band.sampleRate) Hz"))
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
            guard let record = await peer.resolve(service), let control = record.hosts.first else {
                return peer.emit(.serviceFailed(service: service, reason: "not found in the registry"))
            }
            do {
                try FileManager.default.createDirectory(atPath: recordings, withIntermediateDirectories: true)
                client = try await VoiceClient.join(
                    relay: control, as: peer.name.description, address: peer.address, band: band, quality: quality,
                    group: peer.group, logger: peer.logger)
            } catch {
                return peer.emit(.serviceFailed(service: service, reason: "cannot join \(control): \(error)"))
            }
            clients[service] = (client, recordings)
            peer.emit(
                .clientJoined(
                    service: service, participant: Int(client.participant), control: client.controlAddress,
                    data: client.relayDataAddress, local: client.localDataAddress))
        }
        guard let samples, let speak else { return }
        do {
            let frames = (samples.count + band.frameSize - 1) / band.frameSize
            let slot = try await client.speak(samples) { spoken in
                peer.emit(
                    .spoke(
                        service: service, ssrc: Self.hex(spoken.ssrc), frames: spoken.frames,
                        maxLateMs: spoken.maxLate.inMilliseconds))
            }
            peer.emit(
                .speaking(
                    service: service, ssrc: Self.hex(client.ssrc), audio: speak, from: from, frames: frames,
                    slot: slot))
        } catch {
            peer.emit(.serviceFailed(service: service, reason: "cannot speak: \(error)"))
        }
    }

    static func hex(_ ssrc: UInt32) -> String {
        let digits = String(ssrc, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }

    static func traffic(_ service: String, _ state: RelayState) -> Event {
        .relayTraffic(
            service: service, received: Int(state.counters.received), forwarded: Int(state.counters.forwarded),
            forwardedBytes: Int(state.counters.forwardedBytes), unknownSender: Int(state.counters.droppedUnknownSender),
            malformed: Int(state.counters.droppedMalformed))
    }
}
