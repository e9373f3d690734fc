import ControlProtocol
import Crypto
import Foundation
import Logging
import Mobility
import NIOCore
import RTP
import Registry
import Synchronization
import VoiceRelay

/// What a shell needs from the peer it runs in to move its relay: who it is, frames to other
/// peers, the registry, events, and word when it took a relay over or let one go.
public struct MigrationHost: Sendable {
    public var me: MigrationMessage.Host
    /// Sends a migration frame to the peer whose overlay listener is at the address, in order.
    public var send: @Sendable (_ frame: [UInt8], _ to: String) -> Void
    public var resolve: @Sendable (_ service: String) async -> ServiceRecord?
    public var register: @Sendable (ServiceRecord) async -> Bool
    public var withdraw: @Sendable (_ service: String) async -> Void
    public var emit: @Sendable (Event) -> Void
    /// The relay's registry lease.
    public var lease: Duration
    /// The shell serves the relay now (a target took over, or a source took it back).
    public var serving: @Sendable (RelayShell) -> Void
    /// The shell is done: a source released the relay, or a target dropped its replica.
    public var ended: @Sendable (RelayShell) -> Void
    /// A migration is over on this host (released, aborted, or its target moved on): its
    /// frames have nowhere to go any more.
    public var over: @Sendable (_ migration: UInt64) -> Void

    public init(
        me: MigrationMessage.Host, send: @escaping @Sendable ([UInt8], String) -> Void,
        resolve: @escaping @Sendable (String) async -> ServiceRecord?,
        register: @escaping @Sendable (ServiceRecord) async -> Bool,
        withdraw: @escaping @Sendable (String) async -> Void,
        emit: @escaping @Sendable (Event) -> Void, lease: Duration, serving: @escaping @Sendable (RelayShell) -> Void,
        ended: @escaping @Sendable (RelayShell) -> Void, over: @escaping @Sendable (UInt64) -> Void
    ) {
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
    }
}

/// One migration under way in a shell, on either side: its state machine, its timers, and the
/// answers to clients that wait until the target holds the change they confirm.
final class MigrationDriver {
    enum Side {
        case source(MigrationSourceStateMachine, target: MigrationMessage.Host)
        case target(MigrationTargetStateMachine)
    }

    enum TimerKey: Hashable {
        case source(MigrationSourceStateMachine.Timer)
        case target(MigrationTargetStateMachine.Timer)
    }

    var side: Side
    let host: MigrationHost
    var timers: [TimerKey: Scheduled<Void>] = [:]
    /// Answers to clients held back until the target holds the state through `through`.
    var held: [(through: UInt64, connection: RelayInstance.ConnectionID, message: SessionMessage)] = []
    /// Control messages that came after the commit and before the redirect, answered by it.
    var parked: [RelayInstance.ConnectionID] = []
    /// Where the registry says the target serves, if the source had to ask it.
    var registryContact: String?
    /// The source's snapshot before and after compression, and late traffic forwarded.
    var snapshotBytes = 0
    var compressedBytes = 0
    var late = 0

    init(side: Side, host: MigrationHost) {
        self.side = side
        self.host = host
    }

    /// The migration's id, once known (a target learns it from the prepare).
    var id: UInt64? {
        switch side {
        case .source(let machine, _): machine.migration
        case .target(let machine): machine.migration
        }
    }

    /// Whether `message` belongs to this migration (a target's first message names it).
    func concerns(_ message: MigrationMessage) -> Bool {
        switch side {
        case .source(let machine, _): machine.migration == message.migration
        case .target(let machine): machine.migration.map { $0 == message.migration } ?? true
        }
    }

    /// A target that took over serves the relay; all that is left of its migration is the old
    /// host's late traffic, so the relay may move on (or stop) without waiting for it.
    var servesHere: Bool {
        guard case .target(let machine) = side else { return false }
        return machine.phase == .takeover
    }

    /// While the source replicates, a change is confirmed to a client only once the target
    /// holds it.
    var holdsAnswers: Bool {
        guard case .source(let machine, _) = side else { return false }
        return machine.phase == .prepare || machine.phase == .sync
    }

    func hold(_ message: SessionMessage, to connection: RelayInstance.ConnectionID, through sequence: UInt64) {
        held.append((sequence, connection, message))
    }

    func cancelTimers() {
        for timer in timers.values { timer.cancel() }
        timers = [:]
    }
}

extension RelayShell {
    /// This build's relay code: kind, version of its state and operations, and the SHA-256 of
    /// the executable that runs it. A peer takes a relay only from a peer running the same code.
    /// Read once per process: here if `prepareIdentity()` has not read it yet.
    public static var identity: ServiceIdentity {
        if let known = knownIdentity.withLock({ $0 }) { return known }
        let read = readIdentity(stoppingWhenCancelled: false)!
        return knownIdentity.withLock { known in
            if known == nil { known = read }
            return known!
        }
    }

    /// Reads `identity` ahead of the first migration, unless the task is cancelled first (a
    /// peer that ends does not wait for a digest nobody will use).
    static func prepareIdentity() {
        guard knownIdentity.withLock({ $0 }) == nil, let read = readIdentity(stoppingWhenCancelled: true) else {
            return
        }
        knownIdentity.withLock { known in if known == nil { known = read } }
    }

    private static let knownIdentity = Mutex<ServiceIdentity?>(nil)

    private static func readIdentity(stoppingWhenCancelled: Bool) -> ServiceIdentity? {
        var digest = SHA256()
        if let handle = FileHandle(forReadingAtPath: "/proc/self/exe") {
            defer { try? handle.close() }
            while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                if stoppingWhenCancelled, Task.isCancelled { return nil }
                digest.update(data: chunk)
            }
        }
        return ServiceIdentity(kind: kind, version: 2, digest: Array(digest.finalize()))
    }

    /// Starts a shell that will take a relay over from another host: sockets bound, nothing
    /// served until the migration commits. `prepare` is the source's first message: hand it to
    /// the shell with `receive` once the shell can be found by the frames that follow it.
    public static func target(
        of prepare: MigrationMessage, address: String, group: any EventLoopGroup, hosting: Set<String>,
        host: MigrationHost, logger: Logger, onEvent: @escaping @Sendable (RelayInstance.RelayEvent) -> Void
    ) async throws -> RelayShell {
        guard case .prepare(_, let service, _, _, _) = prepare else { preconditionFailure("not a prepare: \(prepare)") }
        let identity = Self.identity
        let shell = try await bind(
            service: service, address: address, group: group, seed: .random(in: .min ... .max), role: .replica,
            logger: logger, onEvent: onEvent)
        var settings = MigrationTargetStateMachine.Settings()
        settings.lease = host.lease
        let machine = MigrationTargetStateMachine(
            catalogue: ServiceCatalogue([identity]), contact: shell.controlAddress, hosting: hosting,
            settings: settings)
        try await shell.loop.submit { shell.migration = MigrationDriver(side: .target(machine), host: host) }.get()
        return shell
    }

    /// Moves the relay to `target`; the phases are reported as events on both hosts.
    public func migrate(id: UInt64, to target: MigrationMessage.Host, host: MigrationHost) async throws {
        let identity = Self.identity  // computed once per process, off the relay's loop
        try await loop.submit {
            guard self.role == .primary, self.migration?.servesHere ?? true else {
                return host.emit(
                    .migrationPhase(
                        migration: String(id), service: self.service, from: host.me.name, to: target.name,
                        phase: "aborted"))
            }
            let state = self.instance.state
            let snapshot = state.snapshot
            let compressed = SnapshotCompression.compress(snapshot)
            var settings = MigrationSourceStateMachine.Settings()
            settings.lease = host.lease
            let machine = MigrationSourceStateMachine(
                migration: id, service: self.service, source: host.me, identity: identity, epoch: self.epoch + 1,
                snapshot: (state.sequence, UInt32(snapshot.count), compressed), settings: settings)
            if self.migration != nil { self.endMigration() }
            let driver = MigrationDriver(side: .source(machine, target: target), host: host)
            driver.snapshotBytes = snapshot.count
            driver.compressedBytes = compressed.count
            self.migration = driver
            self.instance.journaling = true
            self.logger.info(
                "\(self.service): migrating to \(target.name); snapshot \(snapshot.count) bytes, \(compressed.count) compressed"
            )
            self.runSource(.start)
        }.get()
    }

    /// A migration frame from the other host.
    public func receive(_ message: MigrationMessage) {
        loop.execute {
            guard let migration = self.migration, migration.concerns(message) else { return }
            switch migration.side {
            case .source: self.runSource(.message(message))
            case .target: self.runTarget(.message(message))
            }
        }
    }

    /// The registry shows `epoch` for this relay: if it is newer than this shell's, another host
    /// serves it now and this one stops (never two primaries).
    public func superseded(by epoch: UInt64) async -> Bool {
        let stop =
            (try? await loop.submit { () -> Bool in
                guard self.role == .primary, self.migration?.servesHere ?? true, epoch > self.epoch else {
                    return false
                }
                return true
            }.get()) ?? false
        if stop { await close() }
        return stop
    }

    // MARK: The source's side, on the loop

    func migrationChanged(_ sequence: UInt64, _ operation: RelayOperation) {
        guard case .source = migration?.side else { return }
        runSource(.changed(sequence: sequence, operation: operation.bytes))
    }

    /// Control messages after the commit: a session's requests go to the target (it applies each
    /// once); the rest are answered by the redirect.
    func migratedControl(_ message: SessionMessage, from connection: RelayInstance.ConnectionID) {
        if case .request = message, let session = instance.session(on: connection) {
            return runSource(.late(traffic: RelayTraffic.control(session: session, message).bytes))
        }
        if case .moved(let contact) = role {
            send(.redirect(control: contact), to: connection)
        } else {
            migration?.parked.append(connection)
        }
    }

    func migratedDatagram(_ packet: [UInt8], from sender: String) {
        runSource(.late(traffic: RelayTraffic.data(sender: sender, packet: packet).bytes))
    }

    func runSource(_ input: MigrationSourceStateMachine.Input) {
        guard let driver = migration, case .source(var machine, let target) = driver.side else { return }
        if case .late = input { driver.late += 1 }
        let outputs = machine.handle(input)
        driver.side = .source(machine, target: target)
        for output in outputs {
            switch output {
            case .send(let message):
                driver.host.send(message.frame, target.overlay)
            case .setTimer(let timer, let delay):
                schedule(.source(timer), after: delay)
            case .cancelTimer(let timer):
                driver.timers.removeValue(forKey: .source(timer))?.cancel()
            case .replicated(let through):
                release(driver.held.filter { $0.through <= through })
                driver.held.removeAll { $0.through <= through }
            case .freeze:
                role = .frozen
                instance.journaling = false
            case .resume:
                instance.journaling = false
                release(driver.held)
                driver.held = []
            case .redirectClients:
                redirect(to: machine.targetContact ?? "")
            case .release:
                stopServing()
                let service = self.service
                let host = driver.host
                Task { await host.withdraw(service) }
                driver.host.ended(self)
            case .checkTarget:
                let epoch = machine.epoch
                lookUpRecord(driver.host) { record in
                    guard let record, record.epoch >= epoch else {
                        return self.runSource(.targetRecord(serving: false))
                    }
                    self.migration?.registryContact = record.hosts.first
                    self.runSource(.targetRecord(serving: true))
                }
            case .takeBack(let epoch):
                serve(under: epoch, host: driver.host)
            case .replay(let traffic):
                late(traffic)
            case .phase(let phase):
                driver.host.emit(
                    .migrationPhase(
                        migration: String(machine.migration), service: service, from: driver.host.me.name,
                        to: target.name, phase: phase.rawValue))
            }
        }
        if machine.phase == .aborted || (machine.phase == .release && role == .closed) {
            endMigration()
            driver.host.emit(
                .migrationTransfer(
                    migration: String(machine.migration), service: service, snapshotBytes: driver.snapshotBytes,
                    compressedBytes: driver.compressedBytes, operations: Int(machine.sent - machine.snapshotSequence),
                    late: driver.late))
        }
    }

    private func redirect(to contact: String) {
        let target = migration?.registryContact ?? contact
        role = .moved(contact: target)
        for connection in connections.keys.sorted() { send(.redirect(control: target), to: connection) }
        migration?.parked = []
    }

    private func release(
        _ answers: [(through: UInt64, connection: RelayInstance.ConnectionID, message: SessionMessage)]
    ) {
        for answer in answers { send(answer.message, to: answer.connection) }
    }

    // MARK: The target's side, on the loop

    func runTarget(_ input: MigrationTargetStateMachine.Input) {
        guard let driver = migration, case .target(var machine) = driver.side else { return }
        let outputs = machine.handle(input)
        driver.side = .target(machine)
        for output in outputs {
            switch output {
            case .send(let message):
                guard let source = machine.source else { continue }
                driver.host.send(message.frame, source.overlay)
            case .setTimer(let timer, let delay):
                schedule(.target(timer), after: delay)
            case .cancelTimer(let timer):
                driver.timers.removeValue(forKey: .target(timer))?.cancel()
            case .install(_, let size, let state):
                do {
                    let bytes = try SnapshotCompression.decompress(state, size: Int(size))
                    instance = RelayInstance(
                        dataAddress: dataAddress, state: try RelayState(snapshot: bytes),
                        seed: .random(in: .min ... .max))
                } catch {
                    return giveUp(driver, machine, because: "the snapshot does not read: \(error)")
                }
            case .apply(_, let operation):
                do {
                    try instance.replay(try RelayOperation(bytes: operation))
                } catch {
                    return giveUp(driver, machine, because: "an operation does not apply: \(error)")
                }
            case .serve(let epoch):
                serve(under: epoch, host: driver.host)
            case .deliver(let traffic):
                late(traffic)
            case .checkSource:
                let epoch = machine.epoch
                lookUpRecord(driver.host) { self.runTarget(.sourceRecord(alive: $0.map { $0.epoch < epoch } ?? false)) }
            case .discard:
                stopServing()
                driver.host.ended(self)
            case .phase(let phase):
                driver.host.emit(
                    .migrationPhase(
                        migration: String(machine.migration ?? 0), service: service,
                        from: machine.source?.name ?? "?", to: driver.host.me.name,
                        phase: machine.failedOver && phase == .takeover ? "failover" : phase.rawValue))
            }
        }
        if machine.phase == .aborted || machine.phase == .release { endMigration() }
    }

    /// The replica cannot be built: tell the source and drop it.
    private func giveUp(_ driver: MigrationDriver, _ machine: MigrationTargetStateMachine, because reason: String) {
        logger.error("\(service): \(reason)")
        if let source = machine.source {
            driver.host.send(
                MigrationMessage.abort(migration: machine.migration ?? 0, reason: reason).frame, source.overlay)
            driver.host.emit(
                .migrationPhase(
                    migration: String(machine.migration ?? 0), service: service, from: source.name,
                    to: driver.host.me.name, phase: "aborted"))
        }
        endMigration()
        stopServing()
        driver.host.ended(self)
    }

    /// The relay's record as the registry has it now, asked off the loop and answered on it.
    private func lookUpRecord(_ host: MigrationHost, then answer: @escaping @Sendable (ServiceRecord?) -> Void) {
        let service = self.service
        Task {
            let record = await host.resolve(service)
            self.loop.execute { answer(record) }
        }
    }

    /// Drops the migration under way here, its timers, and its place in the peer's books.
    private func endMigration() {
        guard let driver = migration else { return }
        driver.cancelTimers()
        migration = nil
        if let id = driver.id { driver.host.over(id) }
    }

    /// Traffic that reached the other host after its commit: handled here as if it came here.
    private func late(_ bytes: [UInt8]) {
        let traffic: RelayTraffic
        do {
            traffic = try RelayTraffic(bytes: bytes)
        } catch {
            return logger.warning("\(service): dropped late traffic that does not read: \(error)")
        }
        switch traffic {
        case .data(let sender, let packet):
            let isRTP = packet.withUnsafeBytes { (try? RTPHeader(bytes: $0)) != nil }
            carryOut(
                instance.handle(.datagram(from: sender, bytes: packet.count, isRTP: isRTP)),
                packet: ByteBuffer(bytes: packet), context: nil)
        case .control(let session, let message):
            carryOut(instance.handle(.late(session: session, message)), packet: nil, context: nil)
        }
    }

    /// Serves the relay from now on, registered under `epoch`.
    private func serve(under epoch: UInt64, host: MigrationHost) {
        role = .primary
        self.epoch = epoch
        let record = ServiceRecord(name: service, hosts: [controlAddress], epoch: epoch, lease: host.lease)
        let service = self.service
        let logger = self.logger
        Task {
            if !(await host.register(record)) {
                logger.warning("\(service): the registry did not store epoch \(record.epoch)")
            }
        }
        host.serving(self)
    }

    private func schedule(_ key: MigrationDriver.TimerKey, after delay: Duration) {
        guard let driver = migration else { return }
        driver.timers[key]?.cancel()
        let scheduledFor = ObjectIdentifier(driver)
        driver.timers[key] = loop.scheduleTask(in: TimeAmount(delay)) { [self] in
            // A timer of a migration that is over (or was replaced) fires into nothing.
            guard let driver = migration, ObjectIdentifier(driver) == scheduledFor else { return }
            driver.timers[key] = nil
            switch key {
            case .source(let timer): runSource(.timerFired(timer))
            case .target(let timer): runTarget(.timerFired(timer))
            }
        }
    }
}
