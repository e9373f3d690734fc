import CSeamlessLinux
import ControlProtocol
import Crypto
import Foundation
import Logging
import Mobility
import NIOCore
import Registry

/// What a shell needs from the peer it runs in to move its service: who it is, frames to other
/// peers, the registry, events, and word when it took a service over or let one go.
public struct ShellContext: Sendable {
    public var me: MigrationMessage.Peer
    /// Sends a migration frame to the peer whose overlay listener is at the address, in order.
    public var send: @Sendable (_ frame: [UInt8], _ to: String) -> Void
    public var resolve: @Sendable (_ service: String) async -> ServiceRecord?
    public var register: @Sendable (ServiceRecord) async -> Bool
    public var withdraw: @Sendable (_ service: String) async -> Void
    public var emit: @Sendable (Event) -> Void
    /// The service's registry lease.
    public var lease: Duration
    /// The shell serves the service now (a target took over, or a source took it back).
    public var serving: @Sendable (any HostedService) -> Void
    /// The shell is done: a source released the service, or a target dropped its replica.
    public var ended: @Sendable (any HostedService) -> Void
    /// A migration is over on this host (released, aborted, or its target moved on): its
    /// frames have nowhere to go any more.
    public var over: @Sendable (_ migration: UInt64) -> Void
    /// Runs work that outlives the loop's turn that starts it (the registry's answers), as a
    /// child task of the peer application's own run.
    public var spawn: @Sendable (_ work: @escaping @Sendable () async -> Void) -> Void
    /// Finds a peer that would be a hot standby of the shell's service, and the replication
    /// stream its frames will come on (the runtime routes them to the shell from now on).
    public var recruit: @Sendable (any HostedService) async -> (stream: UInt64, peer: MigrationMessage.Peer?)

    public init(
        me: MigrationMessage.Peer, send: @escaping @Sendable ([UInt8], String) -> Void,
        resolve: @escaping @Sendable (String) async -> ServiceRecord?,
        register: @escaping @Sendable (ServiceRecord) async -> Bool,
        withdraw: @escaping @Sendable (String) async -> Void,
        emit: @escaping @Sendable (Event) -> Void, lease: Duration,
        serving: @escaping @Sendable (any HostedService) -> Void,
        ended: @escaping @Sendable (any HostedService) -> Void, over: @escaping @Sendable (UInt64) -> Void,
        spawn: @escaping @Sendable (@escaping @Sendable () async -> Void) -> Void,
        recruit: @escaping @Sendable (any HostedService) async -> (stream: UInt64, peer: MigrationMessage.Peer?)
    ) {
        self.recruit = recruit
        self.me = me
        self.send = send
        self.resolve = resolve
        self.register = register
        self.withdraw = withdraw
        self.emit = emit
        self.lease = lease
        self.serving = serving
        self.ended = ended
        self.over = over
        self.spawn = spawn
    }
}

/// What the hosting core may hold back until the replicas hold the state it shows: an answer
/// to a client on its control channel, or (while standbys follow) a datagram the service made
/// from its state (a game's tick).
enum HeldOutput: Sendable {
    case message(SessionMessage, to: ServiceConnection)
    case datagram([UInt8], to: [String])
}

/// What names the code that runs this process's service kinds: the executable's GNU build ID,
/// the linker's hash of what it linked, read from the loaded image at no cost (a peer's
/// start-up never reads its executable). An executable linked without one is named by the
/// SHA-256 of its file instead, read the first time a migration asks.
public enum CodeDigest {
    public static let current: [UInt8] = buildID() ?? fileDigest()

    /// The running executable's build ID, or nil when it was linked without one.
    public static func buildID() -> [UInt8]? {
        var id = [UInt8](repeating: 0, count: 64)
        let length = id.withUnsafeMutableBufferPointer { seamless_build_id($0.baseAddress, $0.count) }
        return length > 0 ? Array(id.prefix(length)) : nil
    }

    private static func fileDigest() -> [UInt8] {
        var digest = SHA256()
        if let handle = FileHandle(forReadingAtPath: "/proc/self/exe") {
            defer { try? handle.close() }
            while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty { digest.update(data: chunk) }
        }
        return Array(digest.finalize())
    }
}

extension ServiceShell {
    /// The service's hosting core: its role, epoch and migration (`Mobility.ServiceHosting`).
    typealias Hosting = ServiceHosting<HeldOutput>

    /// This build's code for the kind: its name, the version of its state and operations, and
    /// the digest of the executable that runs it (`CodeDigest`). A peer takes a service only from a peer
    /// running the same code.
    public static var identity: ServiceIdentity {
        ServiceIdentity(kind: Service.kind, version: Service.version, digest: CodeDigest.current)
    }

    /// Starts a shell that will take a service over from another host: sockets bound, nothing
    /// served until the migration commits. `prepare` is the source's first message: hand it to
    /// the shell with `receive` once the shell can be found by the frames that follow it.
    /// `catalogue`: the kinds this host runs; `hosting`: the services it hosts already.
    public static func target(
        of prepare: MigrationMessage, address: String, group: any EventLoopGroup, catalogue: ServiceCatalogue,
        hosting: Set<String>, seed: UInt64, host: ShellContext, logger: Logger,
        report: @escaping @Sendable (String, Service) -> Event? = { _, _ in nil },
        onEvent: @escaping @Sendable (Service.Event) -> Void
    ) async throws -> ServiceShell {
        guard case .prepare(_, let service, _, _, _, _) = prepare else {
            preconditionFailure("not a prepare: \(prepare)")
        }
        return try await bind(
            service: service, address: address, group: group, seed: seed, host: host,
            logger: logger, report: report, onEvent: onEvent
        ) { contact, data in
            Hosting(
                replicaOf: service, me: host.me, lease: host.lease, catalogue: catalogue, contact: contact, data: data,
                hosting: hosting)
        }
    }

    /// Starts a shell that will be a hot standby of a service for the primary whose `follow`
    /// this is: sockets bound, nothing served unless it takes the service over. Hand the follow
    /// to the shell with `receive` once the shell can be found by the frames that follow it.
    public static func standby(
        of follow: MigrationMessage, address: String, group: any EventLoopGroup, seed: UInt64, host: ShellContext,
        logger: Logger, report: @escaping @Sendable (String, Service) -> Event? = { _, _ in nil },
        onEvent: @escaping @Sendable (Service.Event) -> Void
    ) async throws -> ServiceShell {
        guard case .follow(let stream, let service, _, let epoch, let standbys, let primary) = follow else {
            preconditionFailure("not a follow: \(follow)")
        }
        return try await bind(
            service: service, address: address, group: group, seed: seed, host: host, logger: logger, report: report,
            onEvent: onEvent
        ) { contact, data in
            Hosting(
                standbyOf: service, stream: stream, primary: primary, epoch: epoch, standbys: standbys, me: host.me,
                contact: contact, data: data)
        }
    }

    /// Runs the service with `count` hot standbys from now on.
    public func keepStandbys(_ count: Int, host: ShellContext) async throws {
        try await loop.submit {
            self.host = host
            self.perform(self.hosting.handle(.keepStandbys(count: UInt8(clamping: count), me: host.me)))
        }.get()
    }

    /// Moves the service to `target`; the phases are reported as events on both hosts.
    public func migrate(id: UInt64, to target: MigrationMessage.Peer, host: ShellContext) async throws {
        let identity = Self.identity
        try await loop.submit {
            self.host = host
            let (size, compressed) = self.compressedState()
            self.perform(
                self.hosting.handle(
                    .migrate(
                        id: id, from: host.me, to: target, lease: host.lease, identity: identity,
                        snapshot: (self.instance.sequence, size, compressed))))
            if case .source = self.hosting.migration {
                self.logger.info(
                    "\(self.service): migrating to \(target.name); snapshot \(size) bytes, \(compressed.count) compressed"
                )
            }
        }.get()
    }

    /// A migration frame from the other host.
    public func receive(_ message: MigrationMessage) {
        loop.execute { self.perform(self.hosting.handle(.message(message))) }
    }

    /// The registry shows `epoch` for this service: if it is newer than this shell's, another host
    /// serves it now and this one stops (never two primaries). Says whether it stopped.
    public func superseded(by epoch: UInt64) async -> Bool {
        (try? await loop.submit { () -> Bool in
            let outputs = self.hosting.handle(.registryShows(epoch: epoch))
            self.perform(outputs)
            return outputs.contains { if case .superseded = $0 { true } else { false } }
        }.get()) ?? false
    }

    // MARK: On the loop

    func migrationChanged(_ sequence: UInt64, _ operation: [UInt8]) {
        perform(hosting.handle(.changed(sequence: sequence, operation: operation)))
    }

    /// Control messages after the commit: a session's requests go to the target (it applies each
    /// once), each request once; once the clients were redirected, anything else is answered with
    /// the redirect (before, the redirect to every connection is on its way).
    func migratedControl(_ message: SessionMessage, from connection: ServiceConnection) {
        if case .request(let sequence, _) = message, let session = instance.session(on: connection) {
            guard sequence > forwardedRequests[session] ?? 0 else { return }
            forwardedRequests[session] = sequence
            return perform(hosting.handle(.late(traffic: LateTraffic.control(session: session, message).bytes)))
        }
        if case .moved(let contact, let data) = hosting.role {
            send(.redirect(control: contact, data: data), to: connection)
        }
    }

    /// Data after the commit goes to the target; once the clients were redirected, a sender
    /// still sending here is told over UDP where data goes now, now and then (its redirect on
    /// the control channel may wait for a lost segment to be resent).
    func migratedDatagram(_ packet: [UInt8], from sender: String, at address: SocketAddress) {
        perform(hosting.handle(.late(traffic: LateTraffic.data(sender: sender, packet: packet).bytes)))
        guard case .moved(_, let data) = hosting.role, !data.isEmpty else { return }
        let now = NIODeadline.now()
        if let last = dataRedirected[sender], now - last < Self.dataRedirectInterval { return }
        // Senders are whoever the datagrams say: keep the table small.
        if dataRedirected.count >= Self.dataRedirectedLimit { dataRedirected.removeAll() }
        dataRedirected[sender] = now
        datagrams?.writeAndFlush(
            AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: DataRedirect(data: data).bytes)),
            promise: nil)
    }

    /// Carries out what the hosting core decided, in order.
    func perform(_ outputs: [Hosting.Output]) {
        for output in outputs {
            switch output {
            case .send(let message, let overlay):
                host?.send(message.frame, overlay)
            case .sendDatagram(let bytes, let target):
                guard let address = socketAddress(target) else { continue }
                datagrams?.writeAndFlush(
                    AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: bytes)), promise: nil)
            case .setTimer(let timer, let delay):
                schedule(timer, after: delay)
            case .cancelTimer(let timer):
                timers.removeValue(forKey: timer)?.cancel()
            case .deliver(let outputs):
                // Never from a primary that may have been replaced (the client asks again).
                guard hosting.role != .primary || maySend() else { continue }
                for output in outputs {
                    switch output {
                    case .message(let message, let connection): send(message, to: connection)
                    case .datagram(let bytes, let targets): send(datagram: bytes, to: targets)
                    }
                }
            case .journal(let on):
                instance.journaling = on
            case .freeze:
                stopTicking()
                let (size, state) = compressedState()
                perform(hosting.handle(.frozen(size: size, state: state)))
            case .redirectClients(let contact, let data):
                for connection in connections.keys.sorted() {
                    send(.redirect(control: contact, data: data), to: connection)
                }
            case .install(let size, let state):
                do {
                    let bytes = try SnapshotCompression.decompress(state, size: Int(size))
                    instance = try Service(snapshot: bytes, dataAddress: dataAddress, secrets: .system)
                } catch {
                    return giveUp(because: "the snapshot does not read: \(error)")
                }
            case .apply(let operation):
                do {
                    try instance.replay(operation)
                } catch {
                    return giveUp(because: "an operation does not apply: \(error)")
                }
            case .handleLate(let traffic):
                late(traffic)
            case .register(let epoch):
                guard let host else { continue }
                let record = ServiceRecord(name: service, hosts: [controlAddress], epoch: epoch, lease: host.lease)
                let service = self.service
                let logger = self.logger
                host.spawn {
                    if !(await host.register(record)) {
                        logger.warning("\(service): the registry did not store epoch \(record.epoch)")
                    }
                }
            case .withdraw:
                guard let host else { continue }
                let service = self.service
                host.spawn { await host.withdraw(service) }
            case .lookUpRecord:
                guard let host else { continue }
                let service = self.service
                host.spawn {
                    let record = await host.resolve(service)
                    self.loop.execute {
                        self.perform(self.hosting.handle(.record(epoch: record?.epoch, hosts: record?.hosts ?? [])))
                    }
                }
            case .serving:
                startTicking()
                host?.serving(self)
            case .superseded:
                break  // the caller reports it
            case .ended:
                stopServing()
                host?.ended(self)
            case .phase(let migration, let from, let to, let phase):
                host?.emit(
                    .migrationPhase(migration: String(migration), service: service, from: from, to: to, phase: phase))
            case .transfer(let migration, let snapshotBytes, let compressedBytes, let operations, let late):
                host?.emit(
                    .migrationTransfer(
                        migration: String(migration), service: service, snapshotBytes: snapshotBytes,
                        compressedBytes: compressedBytes, operations: operations, late: late))
            case .over(let migration):
                // No more late traffic: what waits for it goes now.
                forwardInOrder(ordering.finish(), context: nil)
                host?.over(migration)
            case .recruit:
                guard let host else { continue }
                host.spawn {
                    let (stream, peer) = await host.recruit(self)
                    self.loop.execute {
                        self.perform(
                            self.hosting.handle(.recruited(stream: stream, peer: peer, identity: Self.identity)))
                    }
                }
            case .takeSnapshot(let stream):
                let (size, state) = compressedState()
                perform(
                    hosting.handle(
                        .snapshotTaken(
                            stream: stream, sequence: instance.sequence, size: size, state: state, now: Self.now())))
            case .heartbeats(let on):
                heartbeating?.cancel()
                heartbeating = nil
                guard on else { continue }
                let interval = TimeAmount(hosting.standbySettings.heartbeatInterval)
                heartbeating = loop.scheduleRepeatedTask(initialDelay: .zero, delay: interval) { [self] _ in
                    perform(hosting.handle(.heartbeatTick(now: Self.now())))
                }
            case .claim(let epoch, let keeping):
                guard let host else { continue }
                let record = ServiceRecord(
                    name: service, hosts: [controlAddress] + keeping, epoch: epoch, lease: host.lease)
                host.spawn {
                    let stored = await host.register(record)
                    self.loop.execute {
                        self.perform(self.hosting.handle(.claimed(epoch: epoch, stored: stored, now: Self.now())))
                    }
                }
            case .standbysChanged(let addresses, let names, let epoch, let wanted):
                for connection in connections.keys.sorted() { send(.standbys(addresses), to: connection) }
                host?.emit(
                    .standbys(service: service, epoch: Int(clamping: epoch), wanted: Int(wanted), peers: names))
            case .notifyClients(let notice):
                let buffer = ByteBuffer(bytes: notice.bytes)
                for client in instance.clientDataAddresses {
                    guard let address = socketAddress(client) else { continue }
                    datagrams?.write(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
                }
                datagrams?.flush()
            case .lostClaim(let epoch):
                host?.emit(
                    .serviceFailed(service: service, reason: "superseded: another host holds epoch \(epoch)"))
            case .failoverPhase(let phase, let epoch, let quiet):
                host?.emit(
                    .failoverPhase(
                        service: service, epoch: Int(clamping: epoch), phase: phase.rawValue,
                        quietMs: quiet?.inMilliseconds))
            case .tookOver(let primary, let epoch, let silence, let claim):
                logger.info("\(service): took over from \(primary) under epoch \(epoch)")
                host?.emit(
                    .failover(
                        service: service, from: primary, to: host?.me.name ?? "?", epoch: Int(clamping: epoch),
                        silenceMs: silence.inMilliseconds, claimMs: claim.inMilliseconds))
            }
        }
    }

    /// The service's whole state now, compressed as it travels, and its size before.
    func compressedState() -> (size: UInt32, state: [UInt8]) {
        let snapshot = instance.snapshot
        return (UInt32(clamping: snapshot.count), SnapshotCompression.compress(snapshot))
    }

    /// The replica cannot be built: the core tells the source and drops it; nothing else of
    /// what it decided before applies.
    private func giveUp(because reason: String) {
        logger.error("\(service): \(reason)")
        perform(hosting.handle(.replicaFailed(reason: reason)))
    }

    /// Traffic that reached the other host after its commit: handled here as if it came here.
    private func late(_ bytes: [UInt8]) {
        let traffic: LateTraffic
        do {
            traffic = try LateTraffic(bytes: bytes)
        } catch {
            return logger.warning("\(service): dropped late traffic that does not read: \(error)")
        }
        switch traffic {
        case .data(let sender, let packet):
            let buffer = ByteBuffer(bytes: packet)
            if hosting.receivesLateTraffic, let sequence = packet.withUnsafeBytes(Service.sequenceNumber(ofDatagram:)) {
                let due = ordering.late(from: sender, sequence: sequence, packet: buffer, now: Self.now())
                return forwardInOrder(due, context: nil)
            }
            deliver(buffer, from: sender, context: nil)
        case .control(let session, let message):
            carryOut(instance.handle(.late(session: session, message)), packet: nil, context: nil)
        }
    }

    private func schedule(_ timer: Hosting.Timer, after delay: Duration) {
        timers[timer]?.cancel()
        timers[timer] = loop.scheduleTask(in: TimeAmount(delay)) { [self] in
            timers[timer] = nil
            perform(hosting.handle(.timerFired(timer)))
        }
    }
}
