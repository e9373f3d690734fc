import ControlProtocol
import Mobility
import OverlayCore
import PeerNode
import Registry

/// The services a peer hosts, of every kind it registered: `deploy` starts one, `migrate` moves
/// one to another peer, migration frames on the overlay take one over, a registry watch stops a
/// shell whose service another host serves under a newer epoch, and a leaving peer hands every
/// service it hosts to a neighbour that will take it (`handOver`).
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
    /// Set once the peer is leaving: it takes no service and tells every host query so.
    private var leaving = false
    /// The answers to a leaving peer's host query, by the query's id.
    private var hostAnswers: [UInt64: AsyncStream<MigrationMessage>.Continuation] = [:]
    /// Handovers waiting for a migration to be over on this host, by migration.
    private var overWaiters: [UInt64: AsyncStream<Void>.Continuation] = [:]
    /// How long a host query waits for candidates' answers, and how many it asks.
    static let hostQueryTimeout: Duration = .seconds(1)
    static let hostQueryFanOut = 16

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
        case .deploy(let service, let kind, let replicas):
            guard let kind = kinds[kind] else { return false }
            await deploy(service, kind: kind, replicas: replicas, peer: peer)
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
        switch message {
        case .hostQuery(let id, let service, let identity, let asker):
            let answer = MigrationMessage.hostAnswer(
                migration: id, host: migrationHost(peer).me, refusal: refusal(of: service, identity))
            outbox(peer).yield((answer.frame, asker.overlay))
            return
        case .hostAnswer(let id, _, _):
            hostAnswers[id]?.yield(message)
            return
        default:
            break
        }
        if let shell = migrations[message.migration] { return shell.receive(message) }
        if case .follow(let id, let service, let identity, _, _, let primary) = message {
            return await follow(message, id: id, service: service, identity: identity, primary: primary, peer: peer)
        }
        guard case .prepare(let id, let service, let identity, _, _, let source) = message else {
            return peer.logger.debug("a migration frame for no migration here: \(message)")
        }
        let catalogue = ServiceCatalogue(kinds.values.map { $0.identity() })
        if let refusal = leaving ? Self.leavingRefusal : busyRefusal {
            if refusal == busyRefusal { busyRefusals += 1 }
            outbox(peer).yield((MigrationMessage.refuse(migration: id, reason: refusal).frame, source.overlay))
            return
        }
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

    /// Moves every service hosted here to another peer, one after the other, before the peer
    /// leaves: the neighbours the DHT knows are asked who would take it (`hostQuery`), and the
    /// service migrates, as a commanded migration does, to the nearest that would; if that
    /// migration aborts, to the next. Waits for each to be released (or aborted) until `bound`
    /// has passed, and reports each as a `handover` event. From now on this peer takes nothing.
    public func handOver(peer: PeerContext, within bound: Duration) async {
        leaving = true
        let deadline = ContinuousClock.now + bound
        for (_, shell) in services.sorted(by: { $0.key < $1.key }) {
            peer.emit(await handOver(shell, peer: peer, until: deadline))
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
        if busyRefusals > 0 { peer.emit(.rejected(counts: ["busy-migrations": busyRefusals])) }
        // No more work: the sender drains, the watches see no service, and run(peer:) returns.
        outbox?.finish()
        jobs.finish()
    }

    /// Becomes a hot standby of `service` for the primary that asked, unless this peer would not
    /// take the service (then the primary hears why).
    private func follow(
        _ message: MigrationMessage, id: UInt64, service: String, identity: ServiceIdentity,
        primary: MigrationMessage.Peer, peer: PeerContext
    ) async {
        if let refusal = refusal(of: service, identity) {
            if refusal == busyRefusal { busyRefusals += 1 }
            outbox(peer).yield((MigrationMessage.refuse(migration: id, reason: refusal).frame, primary.overlay))
            return
        }
        guard let kind = kinds[identity.kind] else { return }
        do {
            let shell = try await kind.standby(message, peer, migrationHost(peer), draw(peer))
            migrations[id] = shell
            shell.receive(message)
        } catch {
            peer.logger.error("cannot bind a shell to stand by for \(service): \(error)")
            outbox(peer).yield(
                (MigrationMessage.refuse(migration: id, reason: "cannot bind: \(error)").frame, primary.overlay))
        }
    }

    /// Finds a neighbour that would be a hot standby of the shell's service (the nearest that
    /// says yes to a host query), on a new replication stream whose frames go to the shell.
    private func recruit(_ shell: any HostedService, peer: PeerContext) async -> (
        stream: UInt64, peer: MigrationMessage.Peer?
    ) {
        let stream = max(1, draw(peer))
        guard !leaving, let identity = kinds[shell.kind]?.identity() else { return (stream, nil) }
        let (candidates, _, willing) = await askNeighbours(
            about: shell.service, identity, peer: peer, until: ContinuousClock.now + Self.hostQueryTimeout)
        let chosen = willing.first
        if let chosen {
            migrations[stream] = shell
            peer.logger.info("\(shell.service): asking \(chosen.name) to stand by")
        } else {
            peer.logger.info("\(shell.service): no standby among \(candidates.count) neighbours")
        }
        return (stream, chosen)
    }

    private func deploy(_ service: String, kind: ServiceKind, replicas: Int, peer: PeerContext) async {
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
        if replicas > 0 { try? await shell.keepStandbys(replicas, host: migrationHost(peer)) }
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

    static let leavingRefusal = "the peer is leaving"
    /// At most this many migrations and standby streams are under way here at once: a `prepare`
    /// or `follow` beyond them is refused before any socket is bound for it.
    static let maximumMigrations = 32
    /// Why a `prepare`, `follow` or host query is refused now for the migrations under way, if
    /// it is.
    private var busyRefusal: String? {
        migrations.count >= Self.maximumMigrations ? "busy: \(migrations.count) migrations under way" : nil
    }
    /// `prepare`s and `follow`s refused as busy (host queries answered so are not counted).
    private var busyRefusals = 0

    /// Why this peer would not take `service` running this code, or nil if it would.
    private func refusal(of service: String, _ identity: ServiceIdentity) -> String? {
        if leaving { return Self.leavingRefusal }
        if let busyRefusal { return busyRefusal }
        if let refusal = ServiceCatalogue(kinds.values.map { $0.identity() }).refusal(for: identity) {
            return refusal.description
        }
        if services[service] != nil || migrations.values.contains(where: { $0.service == service }) {
            return "it hosts \(service) already"
        }
        return nil
    }

    /// One service's handover, as its event.
    private func handOver(
        _ shell: any HostedService, peer: PeerContext, until deadline: ContinuousClock.Instant
    ) async -> Event {
        let service = shell.service
        func failed(_ reason: String) -> Event {
            .handover(service: service, migration: "", to: "", outcome: "failed", reason: reason)
        }
        guard let identity = kinds[shell.kind]?.identity() else { return failed("no kind \(shell.kind) here") }
        // A migration of it under way already (a `migrate` step just before the leave): let it end
        // first; if it moved the service, there is nothing left to hand over.
        if let underWay = migrations.first(where: { $0.value === shell })?.key, await !shell.servesHere() {
            await waitUntilOver(underWay, until: deadline)
            if await !shell.servesHere() {
                return .handover(
                    service: service, migration: String(underWay), to: "", outcome: "moved",
                    reason: "the migration under way moved it")
            }
        }
        let (candidates, answers, willing) = await askNeighbours(
            about: service, identity, peer: peer, until: deadline)
        guard !willing.isEmpty else {
            let reasons = candidates.map { "\($0): \(answers[$0]?.refusal ?? "no answer")" }
            return failed("no peer would take it (\(reasons.isEmpty ? "none known" : reasons.joined(separator: "; ")))")
        }
        var attempts: [String] = []
        for target in willing where ContinuousClock.now < deadline {
            let id = max(1, draw(peer))
            migrations[id] = shell
            do {
                try await shell.migrate(id: id, to: target, host: migrationHost(peer))
            } catch {
                migrations[id] = nil
                attempts.append("\(target.name): \(error)")
                continue
            }
            await waitUntilOver(id, until: deadline)
            if await !shell.servesHere() {
                return .handover(service: service, migration: String(id), to: target.name, outcome: "moved", reason: "")
            }
            attempts.append("\(target.name): the migration aborted")
        }
        return failed(attempts.isEmpty ? "out of time" : attempts.joined(separator: "; "))
    }

    /// Asks the neighbours the DHT knows (nearest first, at most `hostQueryFanOut`) whether they
    /// would take `service`: who was asked, what each answered, and those that would, in order.
    private func askNeighbours(
        about service: String, _ identity: ServiceIdentity, peer: PeerContext, until deadline: ContinuousClock.Instant
    ) async -> (
        candidates: [String], answers: [String: (host: MigrationMessage.Peer, refusal: String?)],
        willing: [MigrationMessage.Peer]
    ) {
        let candidates = Array(
            await peer.neighbours().filter { $0 != peer.overlayAddress }.prefix(Self.hostQueryFanOut))
        let answers = await ask(candidates, about: service, identity, peer: peer, until: deadline)
        let willing = candidates.compactMap { answers[$0].flatMap { $0.refusal == nil ? $0.host : nil } }
        return (candidates, answers, willing)
    }

    /// Asks each candidate (overlay addresses, nearest first) whether it would take `service`,
    /// and collects the answers by address until the nearest willing candidate is known (every
    /// one before it answered), all answered, or `hostQueryTimeout` (or `deadline`) passed.
    private func ask(
        _ candidates: [String], about service: String, _ identity: ServiceIdentity, peer: PeerContext,
        until deadline: ContinuousClock.Instant
    ) async -> [String: (host: MigrationMessage.Peer, refusal: String?)] {
        guard !candidates.isEmpty else { return [:] }
        let query = max(1, draw(peer))
        let (answers, sink) = AsyncStream<MigrationMessage>.makeStream()
        hostAnswers[query] = sink
        defer { hostAnswers[query] = nil }
        let question = MigrationMessage.hostQuery(
            migration: query, service: service, identity: identity, asker: migrationHost(peer).me)
        for candidate in candidates { outbox(peer).yield((question.frame, candidate)) }
        let timeout = min(Self.hostQueryTimeout, max(.zero, deadline - ContinuousClock.now))
        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                sink.finish()
            }
            var byAddress: [String: (host: MigrationMessage.Peer, refusal: String?)] = [:]
            for await answer in answers {
                guard case .hostAnswer(_, let host, let refusal) = answer, candidates.contains(host.overlay) else {
                    continue
                }
                byAddress[host.overlay] = (host, refusal)
                let firstUnknownOrWilling = candidates.first { byAddress[$0].map { $0.refusal == nil } ?? true }
                if firstUnknownOrWilling.map({ byAddress[$0] != nil }) ?? true { break }
            }
            group.cancelAll()
            return byAddress
        }
    }

    /// Returns once migration `id` is over on this host (released, aborted, or its target moved
    /// on), or at `deadline`.
    private func waitUntilOver(_ id: UInt64, until deadline: ContinuousClock.Instant) async {
        let (over, sink) = AsyncStream<Void>.makeStream()
        overWaiters[id] = sink
        defer { overWaiters[id] = nil }
        guard migrations[id] != nil else { return }  // over already
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in over { return } }
            group.addTask { try? await Task.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
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
            spawn: { [jobs] work in jobs.spawn(work) },
            recruit: { shell in await self.recruit(shell, peer: peer) })
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

    private func over(_ migration: UInt64) {
        migrations[migration] = nil
        overWaiters.removeValue(forKey: migration)?.finish()
    }

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
