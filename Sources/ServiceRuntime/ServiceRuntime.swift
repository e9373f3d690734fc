import ControlProtocol
import Mobility
import OverlayCore
import PeerNode
import Registry

/// The services a peer hosts, of every kind it registered: `deploy` starts one, `migrate` moves
/// one to another peer, migration frames on the overlay take one over, and a registry watch
/// stops a shell whose service another host serves under a newer epoch.
public actor ServiceRuntime: PeerApplication {
    private let kinds: [String: ServiceKind]
    /// Migration ids and the shells' seeds, from the peer's seed (set at the first draw).
    private var random: SeededGenerator?
    private var services: [String: any HostedService] = [:]
    /// Shells moving a service away or taking one over, by migration.
    private var migrations: [UInt64: any HostedService] = [:]
    /// Migration frames to other peers, sent in order by one task.
    private var outbox: AsyncStream<(frame: [UInt8], to: String)>.Continuation?
    /// How long a service's registry record lives without renewal (the host renews at a third).
    public static let lease: Duration = .seconds(10)

    /// Work that outlives the call that starts it (registry watches, the overlay sender, what a
    /// shell's callbacks report): each runs as a child of `run(peer:)`.
    private let jobs = ChildJobs()

    /// A runtime for these kinds (one of each name).
    public init(kinds: [ServiceKind]) {
        self.kinds = Dictionary(kinds.map { ($0.name, $0) }) { first, _ in first }
    }

    /// Runs every job as a child task until `finish` ends the queue and the jobs are done, or
    /// the peer cancels it.
    public func run(peer: PeerContext) async {
        await jobs.run()
    }

    public func obey(_ command: PeerCommand, peer: PeerContext) async -> Bool {
        switch command {
        case .deploy(let service, let kind):
            guard let kind = kinds[kind] else { return false }
            await deploy(service, kind: kind, peer: peer)
            return true
        case .migrate(let service, let to, let address):
            await migrate(service, to: MigrationMessage.Peer(name: to, overlay: address), peer: peer)
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
            return peer.logger.warning("dropped a malformed migration frame of \(overlayFrame.count) bytes: \(error)")
        }
        if let shell = migrations[message.migration] { return shell.receive(message) }
        guard case .prepare(let id, let service, let identity, _, let source) = message else {
            return peer.logger.debug("a migration frame for no migration here: \(message)")
        }
        let catalogue = ServiceCatalogue(kinds.values.map { $0.identity() })
        guard let kind = kinds[identity.kind] else {
            // Refused by the core of a shell of no kind: the source hears why at once.
            let refusal = catalogue.refusal(for: identity)?.description ?? "unknown kind"
            outbox(peer).yield((MigrationMessage.refuse(migration: id, reason: refusal).frame, source.overlay))
            return
        }
        do {
            let shell = try await kind.target(
                message, peer, catalogue, Set(services.keys), migrationHost(peer), draw(peer))
            migrations[id] = shell
            shell.receive(message)
        } catch {
            peer.logger.error("cannot bind a shell to take \(service) over: \(error)")
        }
    }

    public func finish(peer: PeerContext) async {
        for (_, shell) in services.sorted(by: { $0.key < $1.key }) {
            if let report = await shell.closingReport() { peer.emit(report) }
            await shell.close()
        }
        services = [:]
        for shell in migrations.values { await shell.close() }
        migrations = [:]
        // No more work: the sender drains, the watches see no service, and run(peer:) returns.
        outbox?.finish()
        jobs.finish()
    }

    private func deploy(_ service: String, kind: ServiceKind, peer: PeerContext) async {
        guard services[service] == nil else {
            return peer.emit(.serviceFailed(service: service, reason: "already deployed on this peer"))
        }
        let shell: any HostedService
        do {
            shell = try await kind.start(service, peer, migrationHost(peer), draw(peer))
        } catch {
            return peer.emit(.serviceFailed(service: service, reason: "cannot bind on \(peer.address): \(error)"))
        }
        let record = ServiceRecord(name: service, hosts: [shell.controlAddress], epoch: 1, lease: Self.lease)
        guard await peer.register(record) else {
            await shell.close()
            return peer.emit(.serviceFailed(service: service, reason: "the registry did not store the record"))
        }
        serving(shell, peer: peer)
        peer.emit(.deployed(service: service, kind: kind.name, control: shell.controlAddress, data: shell.dataAddress))
    }

    private func migrate(_ service: String, to target: MigrationMessage.Peer, peer: PeerContext) async {
        let id = max(1, draw(peer))
        guard let shell = services[service] else {
            return peer.emit(
                .migrationPhase(
                    migration: String(id), service: service, from: peer.name.description, to: target.name,
                    phase: MigrationPhase.aborted.rawValue))
        }
        migrations[id] = shell
        do {
            try await shell.migrate(id: id, to: target, host: migrationHost(peer))
        } catch {
            peer.emit(.serviceFailed(service: service, reason: "cannot migrate: \(error)"))
        }
    }

    /// The next number of the runtime's own stream of the peer's seed.
    private func draw(_ peer: PeerContext) -> UInt64 {
        var generator = random ?? SeededGenerator(seed: peer.seed).derived("service runtime")
        defer { random = generator }
        return generator.next()
    }

    /// What a shell needs from this peer to move.
    private func migrationHost(_ peer: PeerContext) -> ShellContext {
        let outbox = outbox(peer)
        return ShellContext(
            me: MigrationMessage.Peer(name: peer.name.description, overlay: peer.overlayAddress),
            send: { outbox.yield(($0, $1)) }, resolve: peer.resolve, register: peer.register, withdraw: peer.withdraw,
            emit: peer.emit, lease: Self.lease,
            serving: { [jobs] shell in jobs.spawn { await self.serving(shell, peer: peer) } },
            ended: { [jobs] shell in jobs.spawn { await self.ended(shell) } },
            over: { [jobs] id in jobs.spawn { await self.over(id) } },
            spawn: { [jobs] work in jobs.spawn(work) })
    }

    private func outbox(_ peer: PeerContext) -> AsyncStream<(frame: [UInt8], to: String)>.Continuation {
        if let outbox { return outbox }
        let (frames, outbox) = AsyncStream<(frame: [UInt8], to: String)>.makeStream()
        self.outbox = outbox
        jobs.spawn { for await frame in frames { await peer.sendOverlay(frame.frame, frame.to) } }
        return outbox
    }

    private func serving(_ shell: any HostedService, peer: PeerContext) {
        services[shell.service] = shell
        watch(shell, peer: peer)
    }

    private func ended(_ shell: any HostedService) {
        if services[shell.service] === shell { services[shell.service] = nil }
    }

    private func over(_ migration: UInt64) { migrations[migration] = nil }

    /// Checks the registry at a third of the lease: when another host registered the service
    /// under a higher epoch, this one stops serving it (never two primaries).
    private func watch(_ shell: any HostedService, peer: PeerContext) {
        jobs.spawn {
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

    private func isServing(_ shell: any HostedService) -> Bool { services[shell.service] === shell }
}
