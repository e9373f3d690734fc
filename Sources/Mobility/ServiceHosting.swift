import OverlayCore

/// One service on one host, as a value: what the host is to the service (`Role`), the registry
/// epoch it serves under, the migration under way on either side (composing the source's and
/// the target's state machines), the answers to clients held until the target holds the change
/// they confirm, and the registry's word (the higher epoch wins: a host that sees a newer one
/// stops). Every decision of hosting and moving a service is made here; a shell carries out the
/// outputs with sockets and timers, and the simulation carries them out in virtual time, so the
/// policy the crash matrix tests is the one that ships.
///
/// `Answer` is whatever the shell sends a client to confirm a change (a session message and the
/// connection it goes to, say); the core only holds it back or lets it go.
public struct ServiceHosting<Answer: Sendable>: Sendable {
    /// What this host is to the service.
    public enum Role: Sendable, Equatable {
        /// A migration's target holding (or building) a replica; nobody is told of it yet.
        case replica
        /// A hot standby of a primary elsewhere: it holds a replica kept current for as long as
        /// the primary serves, and claims the service when the primary falls silent.
        case standby
        /// It serves the service.
        case primary
        /// A migration committed: the state no longer changes here; traffic goes to the target.
        case frozen
        /// Clients were told to use `contact` (and `data`, if known); late traffic still goes to
        /// the target.
        case moved(contact: String, data: String)
        /// Done with the service.
        case closed
    }

    /// A timer of the migration under way.
    public enum Timer: Sendable, Hashable {
        case source(MigrationSourceStateMachine.Timer)
        case target(MigrationTargetStateMachine.Timer)
        /// Time to look for a standby again (none would take it last time).
        case recruit

        var ofMigration: Bool {
            switch self {
            case .source, .target: true
            case .recruit: false
            }
        }
    }

    /// The migration under way here, on either side.
    public enum Migration: Sendable {
        case source(MigrationSourceStateMachine, target: MigrationMessage.Peer)
        case target(MigrationTargetStateMachine)

        public var id: UInt64? {
            switch self {
            case .source(let machine, _): machine.migration
            case .target(let machine): machine.migration
            }
        }
    }

    public enum Input: Sendable {
        /// Move the service from this host (`me`) to `target`, under the service's registry
        /// `lease`: `snapshot` is its state after `sequence` operations, compressed as it
        /// travels, `size` bytes before compression.
        case migrate(
            id: UInt64, from: MigrationMessage.Peer, to: MigrationMessage.Peer, lease: Duration,
            identity: ServiceIdentity, snapshot: (sequence: UInt64, size: UInt32, state: [UInt8]))
        /// The service applied operation `sequence` (while `.journal(true)` is in force).
        case changed(sequence: UInt64, operation: [UInt8])
        /// A migration frame from the other host.
        case message(MigrationMessage)
        case timerFired(Timer)
        /// The connection to the other host of the migration failed.
        case peerUnreachable
        /// The registry's record of the service, asked for by `.lookUpRecord`: its epoch and its
        /// hosts (where it is served first, then the standbys its claim named), nil and none if
        /// there is no record (or it expired).
        case record(epoch: UInt64?, hosts: [String])
        /// The registry shows the service under `epoch` (a host's periodic check).
        case registryShows(epoch: UInt64)
        /// Traffic for the service (as the service encodes it) that reached this host after its
        /// commit: it goes to the target, to be handled there once.
        case late(traffic: [UInt8])
        /// The replica cannot be built (the snapshot or an operation does not read).
        case replicaFailed(reason: String)
        /// The service froze (after `.freeze`): its whole state now, compressed, `size` bytes
        /// before compression.
        case frozen(size: UInt32, state: [UInt8])
        /// The host lets the service go (it ends, or closes the shell).
        case close
        /// Run with `count` hot standbys (recruited now, and again whenever one is lost); `me`:
        /// this host, as they will answer it.
        case keepStandbys(count: UInt8, me: MigrationMessage.Peer)
        /// The runtime's answer to `.recruit`: a peer that would be a standby of this code, on
        /// replication stream `stream` (nil: none would).
        case recruited(stream: UInt64, peer: MigrationMessage.Peer?, identity: ServiceIdentity)
        /// The state to send standby `stream` (after `.takeSnapshot`), taken at `now`.
        case snapshotTaken(
            stream: UInt64, sequence: UInt64, size: UInt32, state: [UInt8], now: Duration)
        /// A heartbeat datagram from `sender` (`ip:port`), read at `now` (the shell's monotonic clock).
        case heartbeat(StandbyHeartbeat, from: String, now: Duration)
        /// Every `StandbySettings.heartbeatInterval` while `.heartbeats(true)` is in force.
        case heartbeatTick(now: Duration)
        /// The primary may not send to clients now (`maySend` said no): see whether a standby's
        /// lease ran out.
        case leaseCheck(now: Duration)
        /// The registry's answer to `.claim`: whether it stored this host's record under `epoch`
        /// (it refuses one an equal or higher epoch already holds).
        case claimed(epoch: UInt64, stored: Bool, now: Duration)
    }

    public enum Output: Sendable {
        /// A migration frame to the host whose overlay listener is at `to`.
        case send(MigrationMessage, to: String)
        /// A late data packet, as a `LateDatagram`, from this host's data socket to the target's
        /// (`ip:port`).
        case sendDatagram([UInt8], to: String)
        case setTimer(Timer, after: Duration)
        case cancelTimer(Timer)
        /// Answers now due to the clients that wait for them, in order.
        case deliver([Answer])
        /// Report every operation the service applies (`.changed`), or stop.
        case journal(Bool)
        /// The service's state stops changing here: answer at once with `.frozen`, its state now.
        case freeze
        /// Tell every client of this host to use the service at `contact`, sending data to
        /// `data` (empty if not known).
        case redirectClients(to: String, data: String)
        /// Build the replica from this snapshot (compressed, `size` bytes before).
        case install(size: UInt32, state: [UInt8])
        /// Apply this operation to the replica.
        case apply(operation: [UInt8])
        /// Handle traffic that reached the other host, as if it had come here.
        case handleLate(traffic: [UInt8])
        /// Register the service at this host under `epoch`.
        case register(epoch: UInt64)
        /// Withdraw this host's record of the service.
        case withdraw
        /// Ask the registry for the service's record; answer with `.record`.
        case lookUpRecord
        /// This host serves the service now (a target took over, a source took it back).
        case serving
        /// A newer epoch serves the service elsewhere: this host stopped (never two primaries).
        case superseded(epoch: UInt64)
        /// This host is done with the service: stop its sockets.
        case ended
        /// A migration's phase, for the run's events.
        case phase(migration: UInt64, from: String, to: String, phase: String)
        /// A migration is over on this host: what it moved.
        case transfer(migration: UInt64, snapshotBytes: Int, compressedBytes: Int, operations: Int, late: Int)
        /// A migration is over on this host: its frames have nowhere to go any more.
        case over(migration: UInt64)
        /// Find a peer that would be a hot standby of the service: answer with `.recruited`.
        case recruit
        /// Take the service's state now for standby `stream`: answer with `.snapshotTaken`.
        case takeSnapshot(stream: UInt64)
        /// Call `.heartbeatTick` every heartbeat interval from now on, or stop.
        case heartbeats(Bool)
        /// Register the service at this host under `epoch` if no host holds that epoch or a higher
        /// one: answer with `.claimed`. Until then a primary sends nothing to its clients. The
        /// record names after this host the standbys it keeps (`keeping`, their control
        /// addresses): only one named there may claim the next epoch if this host falls silent.
        case claim(epoch: UInt64, keeping: [String])
        /// The standbys that hold the service now (ready ones: they hold its state), for its
        /// clients and the run's events; `epoch`: the primary's.
        case standbysChanged([StandbyAddress], names: [String], epoch: UInt64, wanted: UInt8)
        /// Tell every client the service is served here now (a standby took over).
        case notifyClients(TakeoverNotice)
        /// This primary's claim of `epoch` was refused (a standby holds it and serves): it stopped.
        case lostClaim(epoch: UInt64)
        /// This standby took the service over from `primary` under `epoch`, `silence` after it last
        /// heard from it, `claim` after it decided to.
        case tookOver(from: String, epoch: UInt64, silence: Duration, claim: Duration)
        /// A failover reached `phase` on this host under `epoch`, `quiet` after it last heard
        /// the host it fails over from (nil at `restored`), for the run's events and the faults
        /// armed at the phase.
        case failoverPhase(FailoverPhase, epoch: UInt64, quiet: Duration?)
    }

    /// A hot standby as its primary sees it.
    public struct Standby: Sendable, Equatable {
        public var peer: MigrationMessage.Peer
        /// Where it will serve (from its `accept`).
        public var address: StandbyAddress?
        /// The last operation sent to it, nil before its snapshot; the last it holds, nil before
        /// it acknowledged the snapshot (it is ready from then on).
        public var sent: UInt64?
        public var acknowledged: UInt64?
        /// When this host sent the newest heartbeat the standby echoed (or its snapshot), on this
        /// host's clock: this host may send to clients until `lease` after it.
        public var leaseFrom: Duration?
    }

    /// The primary a hot standby follows.
    public struct Following: Sendable, Equatable {
        public var stream: UInt64
        public var primary: MigrationMessage.Peer
        /// The primary's epoch (heartbeats carry it).
        public var epoch: UInt64
        public var applied: UInt64 = 0
        public var installed = false
        /// When the standby last heard a heartbeat (nil: count from its next tick).
        public var lastHeard: Duration?
        /// When it decided to claim the service.
        public var claimedAt: Duration?
        /// Its claim of this epoch was refused at `refusedAt`: it looks up who holds the epoch.
        public var refusedEpoch: UInt64?
        public var refusedAt: Duration?
    }

    public let service: String
    /// This host, as migrations name it (a primary learns it when asked to move).
    public private(set) var me = MigrationMessage.Peer(name: "", overlay: "")
    public internal(set) var role: Role
    /// The registry epoch this host serves (or will serve) under.
    public internal(set) var epoch: UInt64
    public private(set) var migration: Migration?
    /// The last migration that ended here, as it ended.
    public private(set) var finished: Migration?
    /// The migration's timers that are set now.
    public internal(set) var timers: Set<Timer> = []
    var held: [(through: UInt64, answer: Answer)] = []
    /// Where the registry says the target serves, if the source had to ask it.
    private var registryContact: String?
    private var sizes: (snapshot: Int, compressed: Int) = (0, 0)
    private var lateCount = 0
    public let standbySettings: StandbySettings
    /// How many hot standbys the service runs with, of what code; those a primary keeps, by
    /// replication stream; whether it is looking for one.
    public internal(set) var wantedStandbys: UInt8 = 0
    public internal(set) var standbys: [UInt64: Standby] = [:]
    var recruiting = false
    /// The epoch this host claims in the registry while it waits for the answer (a primary
    /// claiming sends nothing to its clients).
    public internal(set) var claiming: UInt64?
    /// A standby's primary.
    public internal(set) var following: Following?
    /// Takeover notices still to send (one a heartbeat), and whether heartbeats and the
    /// journal are on.
    var noticesLeft = 0
    /// Since its last claim was stored: it has fewer standbys than it wants (`restored` is due).
    var restoring = false
    var heartbeating = false
    var journaling = false
    /// Where a standby will serve if it takes over.
    var ownAddress: StandbyAddress?

    /// A service this host serves under `epoch` (it was deployed here).
    public init(primary service: String, epoch: UInt64, standbySettings: StandbySettings = StandbySettings()) {
        self.service = service
        self.epoch = epoch
        self.standbySettings = standbySettings
        role = .primary
    }

    /// A host that will take `service` over: its replica waits for the source's prepare.
    /// `contact` and `data` are where clients will reach it here; `hosting` the services it
    /// serves already; `lease` the service's registry lease (how long it waits for a silent
    /// source).
    public init(
        replicaOf service: String, me: MigrationMessage.Peer, lease: Duration, catalogue: ServiceCatalogue,
        contact: String, data: String, hosting: Set<String>, standbySettings: StandbySettings = StandbySettings()
    ) {
        self.service = service
        self.me = me
        self.standbySettings = standbySettings
        epoch = 0
        role = .replica
        var settings = MigrationTargetStateMachine.Settings()
        settings.lease = lease
        migration = .target(
            MigrationTargetStateMachine(
                catalogue: catalogue, contact: contact, data: data, hosting: hosting, settings: settings))
    }

    /// A hot standby of `service`, asked by `primary` (its `follow`, which `handle` answers) on
    /// replication stream `stream`: `contact` and `data` are where it will serve if it takes over.
    public init(
        standbyOf service: String, stream: UInt64, primary: MigrationMessage.Peer, epoch: UInt64, standbys: UInt8,
        me: MigrationMessage.Peer, contact: String, data: String, standbySettings: StandbySettings = StandbySettings()
    ) {
        self.service = service
        self.me = me
        self.epoch = epoch
        self.standbySettings = standbySettings
        role = .standby
        wantedStandbys = standbys
        following = Following(stream: stream, primary: primary, epoch: epoch)
        ownAddress = StandbyAddress(control: contact, data: data)
    }

    /// A target that took over serves the service; all that is left of its migration is the old
    /// host's late traffic, so the service may move on (or stop) without waiting for it.
    public var servesHere: Bool {
        switch migration {
        case nil: role == .primary
        case .target(let machine): role == .primary && machine.phase == .takeover
        case .source: false
        }
    }

    /// A target that took over and still hears from its source: late traffic may come.
    public var receivesLateTraffic: Bool {
        guard case .target = migration else { return false }
        return servesHere
    }

    /// A datagram that reached this host's data socket from `sender` (`ip:port`), as the late
    /// message it carries when it is a `LateDatagram` of the migration this host is the target
    /// of, from its source's host; nil for anything else (a client's datagram goes its way).
    public func lateMessage(inDatagram bytes: [UInt8], from sender: String) -> MigrationMessage? {
        guard case .target(let machine) = migration, let id = machine.migration,
            let source = machine.source.flatMap({ HostPort($0.overlay) }), HostPort(sender)?.host == source.host,
            let datagram = try? LateDatagram(bytes: bytes), datagram.migration == id
        else { return nil }
        return .late(migration: id, traffic: datagram.traffic)
    }

    /// Whether `message` belongs to the migration under way (a target's first one names it).
    public func concerns(_ message: MigrationMessage) -> Bool {
        if standbys[message.migration] != nil || following?.stream == message.migration { return true }
        return switch migration {
        case nil: false
        case .source(let machine, _): machine.migration == message.migration
        case .target(let machine): machine.migration.map { $0 == message.migration } ?? true
        }
    }

    /// An answer confirming the service's state through `sequence`: due now, or held while the
    /// source replicates until the target holds that change, so a crash loses nothing confirmed.
    public mutating func answer(_ answer: Answer, through sequence: UInt64) -> [Output] {
        if case .source(let machine, _) = migration, machine.phase == .prepare || machine.phase == .sync {
            held.append((sequence, answer))
            return []
        }
        if !standbysHold(sequence) {
            held.append((sequence, answer))
            return []
        }
        return [.deliver([answer])]
    }

    /// Carries out one input; the journal and the heartbeats follow from what it left.
    public mutating func handle(_ input: Input) -> [Output] {
        var outputs = step(input)
        let journal = needsJournal
        if journal != journaling {
            journaling = journal
            outputs.append(.journal(journal))
        }
        let beat = needsHeartbeats
        if beat != heartbeating {
            heartbeating = beat
            outputs.append(.heartbeats(beat))
        }
        return outputs
    }

    /// Every operation goes out while a migration from here replicates or a standby follows.
    private var needsJournal: Bool {
        if case .source(let machine, _) = migration, machine.phase == .prepare || machine.phase == .sync {
            return true
        }
        return standbys.values.contains { $0.sent != nil }
    }

    private var needsHeartbeats: Bool {
        switch role {
        case .standby: true
        case .primary: !standbys.isEmpty || noticesLeft > 0
        default: false
        }
    }

    private mutating func step(_ input: Input) -> [Output] {
        switch input {
        case .migrate(let id, let me, let target, let lease, let identity, let snapshot):
            guard servesHere else {
                return [.phase(migration: id, from: me.name, to: target.name, phase: "aborted")]
            }
            self.me = me
            // The migration's target replicates the service from now on, and recruits standbys of
            // its own once it serves: these let go (were the source to hang, none may claim it).
            let outputs = endMigration() + releaseStandbys()
            var settings = MigrationSourceStateMachine.Settings()
            settings.lease = lease
            migration = .source(
                MigrationSourceStateMachine(
                    migration: id, service: service, source: me, identity: identity, epoch: epoch + 1,
                    snapshot: snapshot, standbys: wantedStandbys, settings: settings),
                target: target)
            sizes = (Int(snapshot.size), snapshot.state.count)
            lateCount = 0
            return outputs + source(.start)
        case .changed(let sequence, let operation):
            return streamToStandbys(sequence, operation) + source(.changed(sequence: sequence, operation: operation))
        case .message(let message):
            guard concerns(message) else { return [] }
            if standbys[message.migration] != nil { return primaryHears(message) }
            if following?.stream == message.migration { return standbyHears(message) }
            if case .prepare(_, _, _, _, let count, _) = message { wantedStandbys = count }
            switch migration {
            case .source: return source(.message(message))
            case .target: return target(.message(message))
            case nil: return []
            }
        case .timerFired(let timer):
            guard timers.remove(timer) != nil else { return [] }  // cancelled, or of a migration that is over
            switch timer {
            case .source(let timer): return source(.timerFired(timer))
            case .target(let timer): return target(.timerFired(timer))
            case .recruit: return recruitIfShort()
            }
        case .peerUnreachable:
            switch migration {
            case .source: return source(.targetUnreachable)
            case .target: return target(.sourceUnreachable)
            case nil: return []
            }
        case .record(let recordEpoch, let hosts):
            let contact = hosts.first
            switch migration {
            case .source(let machine, _):
                let serving = recordEpoch.map { $0 >= machine.epoch } ?? false
                if serving { registryContact = contact }
                return source(.targetRecord(serving: serving))
            case .target(let machine):
                return target(.sourceRecord(alive: recordEpoch.map { $0 < machine.epoch } ?? false))
            case nil:
                return role == .standby ? standbyReads(record: recordEpoch, hosts: hosts) : []
            }
        case .registryShows(let shown):
            guard servesHere, shown > epoch else { return [] }
            // Answers waiting for standbys are confirmed by nobody here (a migration's go out as
            // its end says).
            if migration == nil { held = [] }
            let letGo = letStandbysGo(because: "superseded")
            role = .closed
            return letGo + endMigration() + [.superseded(epoch: shown), .withdraw, .ended]
        case .late(let traffic):
            guard case .source = migration else { return [] }
            lateCount += 1
            return source(.late(traffic: traffic))
        case .frozen(let size, let state):
            return source(.frozen(size: size, state: state))
        case .replicaFailed(let reason):
            if role == .standby {
                let letGo = letStandbysGo(because: reason)
                role = .closed
                return letGo + [.ended]
            }
            guard case .target(let machine) = migration else { return [] }
            var outputs: [Output] = []
            if let source = machine.source {
                outputs.append(.send(.abort(migration: machine.migration ?? 0, reason: reason), to: source.overlay))
                outputs.append(
                    .phase(migration: machine.migration ?? 0, from: source.name, to: me.name, phase: "aborted"))
            }
            role = .closed
            return outputs + endMigration() + [.ended]
        case .close:
            guard role != .closed else { return [] }
            let letGo = letStandbysGo(because: "the host closed the service")
            role = .closed
            return letGo + endMigration(reporting: false)
        case .keepStandbys(let count, let me):
            self.me = me
            wantedStandbys = count
            return recruitIfShort()
        case .recruited(let stream, let peer, let identity):
            return recruited(stream, peer, identity)
        case .snapshotTaken(let stream, let sequence, let size, let state, let now):
            return snapshotTaken(stream, sequence: sequence, size: size, state: state, now: now)
        case .heartbeat(let heartbeat, let sender, let now):
            return heard(heartbeat, from: sender, now: now)
        case .heartbeatTick(let now):
            return heartbeatTick(now: now)
        case .leaseCheck(let now):
            return leaseCheck(now: now)
        case .claimed(let epoch, let stored, let now):
            return claimed(epoch, stored: stored, now: now)
        }
    }

    // MARK: The source's side

    private mutating func source(_ input: MigrationSourceStateMachine.Input) -> [Output] {
        guard case .source(var machine, let target) = migration else { return [] }
        let steps = machine.handle(input)
        migration = .source(machine, target: target)
        var outputs: [Output] = []
        for step in steps {
            switch step {
            case .send(.late(let id, let traffic)) where LateTraffic.isData(traffic) && machine.targetData != nil:
                // Data goes as datagrams once the target's data socket is known: none waits
                // for another that was lost.
                let datagram = LateDatagram(migration: id, traffic: traffic)
                outputs.append(.sendDatagram(datagram.bytes, to: machine.targetData ?? ""))
            case .send(let message):
                outputs.append(.send(message, to: target.overlay))
            case .setTimer(let timer, let delay):
                outputs.append(setTimer(.source(timer), after: delay))
            case .cancelTimer(let timer):
                outputs += cancelTimer(.source(timer))
            case .replicated(let through):
                let due = held.filter { $0.through <= through }.map(\.answer)
                held.removeAll { $0.through <= through }
                if !due.isEmpty { outputs.append(.deliver(due)) }
            case .freeze:
                role = .frozen
                outputs.append(.freeze)
            case .resume:
                let due = held.map(\.answer)
                held = []
                if !due.isEmpty { outputs.append(.deliver(due)) }
            case .redirectClients:
                // Where the registry says the target serves wins (its data address is not known then).
                let contact = registryContact ?? machine.targetContact ?? ""
                let data = registryContact == nil ? machine.targetData ?? "" : ""
                role = .moved(contact: contact, data: data)
                outputs.append(.redirectClients(to: contact, data: data))
            case .release:
                role = .closed
                outputs += [.withdraw, .ended]
            case .checkTarget:
                outputs.append(.lookUpRecord)
            case .takeBack(let epoch):
                outputs += serve(under: epoch)
            case .replay(let traffic):
                outputs.append(.handleLate(traffic: traffic))
            case .phase(let phase):
                outputs.append(
                    .phase(migration: machine.migration, from: me.name, to: target.name, phase: phase.rawValue))
            }
        }
        if machine.phase == .aborted || machine.phase == .release {
            outputs += endMigration()
        }
        // Serving on here (the migration aborted, or the source took the service back): with
        // standbys again.
        if machine.phase == .aborted, role == .primary { outputs += recruitIfShort() }
        return outputs
    }

    // MARK: The target's side

    private mutating func target(_ input: MigrationTargetStateMachine.Input) -> [Output] {
        guard case .target(var machine) = migration else { return [] }
        let steps = machine.handle(input)
        migration = .target(machine)
        var outputs: [Output] = []
        for step in steps {
            switch step {
            case .send(let message):
                guard let source = machine.source else { continue }
                outputs.append(.send(message, to: source.overlay))
            case .setTimer(let timer, let delay):
                outputs.append(setTimer(.target(timer), after: delay))
            case .cancelTimer(let timer):
                outputs += cancelTimer(.target(timer))
            case .install(_, let size, let state):
                outputs.append(.install(size: size, state: state))
            case .apply(_, let operation):
                outputs.append(.apply(operation: operation))
            case .serve(let epoch):
                wantedStandbys = machine.standbys
                outputs += serve(under: epoch) + recruitIfShort()
            case .deliver(let traffic):
                outputs.append(.handleLate(traffic: traffic))
            case .checkSource:
                outputs.append(.lookUpRecord)
            case .discard:
                role = .closed
                outputs.append(.ended)
            case .phase(let phase):
                outputs.append(
                    .phase(
                        migration: machine.migration ?? 0, from: machine.source?.name ?? "?", to: me.name,
                        phase: machine.failedOver && phase == .takeover ? "failover" : phase.rawValue))
            }
        }
        if machine.phase == .aborted || machine.phase == .release {
            outputs += endMigration()
        }
        return outputs
    }

    /// A timer of either side is set: kept, so a firing after its cancellation is ignored.
    mutating func setTimer(_ timer: Timer, after delay: Duration) -> Output {
        timers.insert(timer)
        return .setTimer(timer, after: delay)
    }

    /// Cancels a timer that is set (one that is not needs no word to the shell).
    mutating func cancelTimer(_ timer: Timer) -> [Output] {
        timers.remove(timer) != nil ? [.cancelTimer(timer)] : []
    }

    /// Serves the service from now on, registered under `epoch`.
    mutating func serve(under epoch: UInt64) -> [Output] {
        role = .primary
        self.epoch = epoch
        return [.register(epoch: epoch), .serving]
    }

    /// Ends the migration under way: its timers are cancelled, answers still held go out (the
    /// changes they confirm are safe: here, or at a target that took over with all of them),
    /// what it moved is reported (unless the host is letting it go half-way), and its frames
    /// have nowhere to go any more.
    mutating func endMigration(reporting: Bool = true) -> [Output] {
        guard let ending = migration else { return [] }
        let ofMigration = timers.filter(\.ofMigration)
        var outputs = ofMigration.sorted { "\($0)" < "\($1)" }.map { Output.cancelTimer($0) }
        if !held.isEmpty { outputs.append(.deliver(held.map(\.answer))) }
        held = []
        timers.subtract(ofMigration)
        migration = nil
        finished = ending
        if reporting, case .source(let machine, _) = ending {
            outputs.append(
                .transfer(
                    migration: machine.migration, snapshotBytes: sizes.snapshot, compressedBytes: sizes.compressed,
                    operations: Int(machine.sent - machine.snapshotSequence), late: lateCount))
        }
        if let id = ending.id { outputs.append(.over(migration: id)) }
        return outputs
    }
}
