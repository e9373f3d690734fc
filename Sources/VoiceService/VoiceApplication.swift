import ControlProtocol
import Foundation
import Mobility
import OverlayCore
import PeerNode
import RTP
import Registry
import Voice
import VoiceRelay

/// Voice in a peer: hosts voice relays (`deploy` with kind `voice-relay`), moves them to other
/// peers and takes them over (`migrate`, migration frames on the overlay), runs voice clients
/// (`voice-client`), and reports all of it to the coordinator. At the end it writes one WAV per
/// speaker each client heard: `<recordings>/<peer>-from-<ssrc>.wav`.
public actor VoiceApplication: PeerApplication {
    private var relays: [String: RelayShell] = [:]
    /// Shells moving a relay away or taking one over, by migration.
    private var migrations: [UInt64: RelayShell] = [:]
    private var clients: [String: (client: VoiceClient, recordings: String)] = [:]
    /// Migration frames to other peers, sent in order by one task.
    private var outbox: AsyncStream<(frame: [UInt8], to: String)>.Continuation?
    /// Frames that were not migration frames, or named no migration here.
    private var strayFrames = 0
    /// How long a relay's registry record lives without renewal (the host renews at a third).
    public static let lease: Duration = .seconds(10)

    /// Work that outlives the call that starts it (registry watches, the overlay sender, what a
    /// relay shell's callbacks report): each runs as a child of `run(peer:)`.
    typealias Job = @Sendable () async -> Void
    private let jobs: AsyncStream<Job>
    private let jobSink: AsyncStream<Job>.Continuation

    public init() {
        (jobs, jobSink) = AsyncStream<Job>.makeStream()
        // The relay's code digest reads the executable once; do it before a migration waits on it.
        jobSink.yield { RelayShell.prepareIdentity() }
    }

    /// Runs every job as a child task until `finish` ends the queue and the jobs are done, or
    /// the peer cancels it.
    public func run(peer: PeerContext) async {
        await withDiscardingTaskGroup { group in
            for await job in jobs { group.addTask { await job() } }
        }
    }

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
        case .migrate(let service, let to, let address):
            await migrate(service, to: MigrationMessage.Host(name: to, overlay: address), peer: peer)
            return true
        default:
            return false
        }
    }

    public func receive(overlayFrame: [UInt8], peer: PeerContext) async {
        guard OverlayProtocol(frame: overlayFrame) == .migration else { return }
        let message: MigrationMessage
        do {
            message = try MigrationMessage(frame: overlayFrame)
        } catch {
            strayFrames += 1
            return peer.logger.warning("dropped a malformed migration frame of \(overlayFrame.count) bytes: \(error)")
        }
        if let shell = migrations[message.migration] { return shell.receive(message) }
        guard case .prepare(let id, let service, _, _, _) = message else {
            strayFrames += 1
            return peer.logger.debug("a migration frame for no migration here: \(message)")
        }
        do {
            let shell = try await RelayShell.target(
                of: message, address: peer.address, group: peer.group, hosting: Set(relays.keys),
                host: migrationHost(peer), logger: peer.logger, onEvent: membership(of: service, peer: peer))
            migrations[id] = shell
            shell.receive(message)
        } catch {
            peer.logger.error("cannot bind a relay to take \(service) over: \(error)")
        }
    }

    private func migrate(_ service: String, to target: MigrationMessage.Host, peer: PeerContext) async {
        let id = UInt64.random(in: 1 ... .max)
        guard let relay = relays[service] else {
            return peer.emit(
                .migrationPhase(
                    migration: String(id), service: service, from: peer.name.description, to: target.name,
                    phase: MigrationPhase.aborted.rawValue))
        }
        migrations[id] = relay
        do {
            try await relay.migrate(id: id, to: target, host: migrationHost(peer))
        } catch {
            peer.emit(.serviceFailed(service: service, reason: "cannot migrate: \(error)"))
        }
    }

    /// What a relay shell needs from this peer to move.
    private func migrationHost(_ peer: PeerContext) -> MigrationHost {
        let outbox = outbox(peer)
        return MigrationHost(
            me: MigrationMessage.Host(name: peer.name.description, overlay: peer.overlayAddress),
            send: { outbox.yield(($0, $1)) }, resolve: peer.resolve, register: peer.register, withdraw: peer.withdraw,
            emit: peer.emit, lease: Self.lease,
            serving: { [jobSink] shell in jobSink.yield { await self.serving(shell, peer: peer) } },
            ended: { [jobSink] shell in jobSink.yield { await self.ended(shell) } },
            over: { [jobSink] id in jobSink.yield { await self.over(id) } },
            spawn: { [jobSink] work in jobSink.yield(work) })
    }

    private func outbox(_ peer: PeerContext) -> AsyncStream<(frame: [UInt8], to: String)>.Continuation {
        if let outbox { return outbox }
        let (frames, outbox) = AsyncStream<(frame: [UInt8], to: String)>.makeStream()
        self.outbox = outbox
        jobSink.yield { for await frame in frames { await peer.sendOverlay(frame.frame, frame.to) } }
        return outbox
    }

    private func serving(_ shell: RelayShell, peer: PeerContext) {
        relays[shell.service] = shell
        watch(shell, peer: peer)
    }

    private func ended(_ shell: RelayShell) {
        if relays[shell.service] === shell { relays[shell.service] = nil }
    }

    private func over(_ migration: UInt64) { migrations[migration] = nil }

    /// Checks the registry at a third of the lease: when another host registered the relay
    /// under a higher epoch, this one stops serving it (never two primaries).
    private func watch(_ shell: RelayShell, peer: PeerContext) {
        jobSink.yield {
            while await self.isServing(shell) {
                guard (try? await Task.sleep(for: Self.lease / 3)) != nil else { return }  // cancelled
                guard await self.isServing(shell), let record = await peer.resolve(shell.service) else { continue }
                // A superseded shell withdraws its record and reports that it ended.
                if await shell.superseded(by: record.epoch) {
                    peer.emit(
                        .serviceFailed(
                            service: shell.service,
                            reason: "superseded: epoch \(record.epoch) at \(record.hosts.first ?? "?") is newer"))
                }
            }
        }
    }

    private func isServing(_ shell: RelayShell) -> Bool { relays[shell.service] === shell }

    private func membership(of service: String, peer: PeerContext) -> @Sendable (RelayInstance.RelayEvent) -> Void {
        { event in
            switch event {
            case .joined(let participant):
                peer.emit(
                    .membership(
                        service: service, participant: Int(participant.id), name: participant.name, change: "joined"))
            case .left(let participant):
                peer.emit(
                    .membership(
                        service: service, participant: Int(participant.id), name: participant.name, change: "left"))
            }
        }
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
                    .heard(
                        service: service, ssrc: ssrc, file: file,
                        frames: speaker.samples.count / entry.client.band.frameSize,
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
        for shell in migrations.values { await shell.close() }
        migrations = [:]
        // No more work: the sender drains, the watches see no relay, and run(peer:) returns.
        outbox?.finish()
        jobSink.finish()
    }

    private func deploy(_ service: String, peer: PeerContext) async {
        guard relays[service] == nil else {
            return peer.emit(.serviceFailed(service: service, reason: "already deployed on this peer"))
        }
        let relay: RelayShell
        do {
            relay = try await RelayShell.start(
                service: service, address: peer.address, group: peer.group, host: migrationHost(peer),
                logger: peer.logger, onEvent: membership(of: service, peer: peer))
        } catch {
            return peer.emit(.serviceFailed(service: service, reason: "cannot bind on \(peer.address): \(error)"))
        }
        let record = ServiceRecord(name: service, hosts: [relay.controlAddress], epoch: 1, lease: Self.lease)
        guard await peer.register(record) else {
            await relay.close()
            return peer.emit(.serviceFailed(service: service, reason: "the registry did not store the record"))
        }
        serving(relay, peer: peer)
        peer.emit(
            .deployed(service: service, kind: RelayShell.kind, control: relay.controlAddress, data: relay.dataAddress))
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
                    as: peer.name.description, address: peer.address, band: band, quality: quality, group: peer.group,
                    logger: peer.logger,
                    resolve: { [jobSink] answer in jobSink.yield { answer(await peer.resolve(service)?.hosts.first) } })
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
                    .spoke(
                        service: service, ssrc: RTPPacket.ssrcText(spoken.ssrc), frames: spoken.frames,
                        maxLateMs: spoken.maxLate.inMilliseconds))
            }
            peer.emit(
                .speaking(
                    service: service, ssrc: RTPPacket.ssrcText(client.ssrc), audio: speak, from: from, frames: frames,
                    slot: slot))
        } catch {
            peer.emit(.serviceFailed(service: service, reason: "cannot speak: \(error)"))
        }
    }

    static func traffic(_ service: String, _ state: RelayState) -> Event {
        .relayTraffic(
            service: service, received: Int(state.counters.received), forwarded: Int(state.counters.forwarded),
            forwardedBytes: Int(state.counters.forwardedBytes), unknownSender: Int(state.counters.droppedUnknownSender),
            malformed: Int(state.counters.droppedMalformed))
    }
}
