import OverlayCore

@testable import Mobility

/// Two hosts migrating one service on a simulated network with virtual time: the shipping
/// hosting core (`ServiceHosting`, around the source and target state machines) on each side,
/// carried out as a shell would; a service whose state is the list of operations applied (each
/// a number), clients that change it every 20 ms at whichever host they use, a registry with
/// leases where the higher epoch wins, and faults: a host crash or a cut link after any number
/// of protocol messages. Seeded: the same seed replays the same run.
struct MigrationWorld {
    enum Side: Hashable, CustomStringConvertible {
        case source, target

        var other: Side { self == .source ? .target : .source }
        var description: String { self == .source ? "source" : "target" }
    }

    enum Fault: Equatable {
        case none
        /// This side crashes right after the n-th protocol message was delivered.
        case crash(Side, afterMessages: Int)
        /// The connection breaks (both ways) right after the n-th message.
        case cut(afterMessages: Int)
    }

    /// What the world keeps of a host beside its hosting core: alive or not, its state
    /// (operation values in order), and for the target the number of source operations its
    /// replica holds.
    struct Host {
        var alive = true
        var state: [UInt64]?
        var fromSource = 0
    }

    /// The shipping core; an answer is the change value it confirms.
    typealias Hosting = ServiceHosting<UInt64>

    enum Event {
        case deliver(to: Side, MigrationMessage)
        /// A datagram from one host's data socket (`ip:port`) to the other's.
        case datagram(to: Side, [UInt8], from: String)
        case timer(Side, Hosting.Timer, generation: Int)
        case unreachable(Side)
        case clientChange
        case renew(Side)
    }

    static let lease: Duration = .seconds(3)
    static let identity = ServiceIdentity(kind: "counter", version: 1, digest: [1, 2, 3])
    static let names: [Side: MigrationMessage.Peer] = [
        .source: MigrationMessage.Peer(name: "source", overlay: "10.0.0.1:4000"),
        .target: MigrationMessage.Peer(name: "target", overlay: "10.0.0.2:4000"),
    ]
    let fault: Fault
    var now: Duration = .zero
    private var queue: [(at: Duration, order: Int, event: Event)] = []
    private var order = 0
    /// Each side's hosting core: the source serves the service under epoch 1, the target waits
    /// for a prepare.
    var hosting: [Side: Hosting] = [
        .source: Hosting(primary: "svc", epoch: 1),
        .target: Hosting(
            replicaOf: "svc", me: names[.target]!, lease: lease, catalogue: ServiceCatalogue([identity]),
            contact: "10.0.0.2:7000", data: "10.0.0.2:7001", hosting: []),
    ]
    var hosts: [Side: Host] = [.source: Host(state: []), .target: Host()]
    /// The registry's record: who, under which epoch, renewed when.
    var record: (side: Side, epoch: UInt64, renewed: Duration)? = (.source, 1, .zero)
    var linkUp = true
    var delivered = 0
    /// Where the clients send their changes (they move on a redirect, or re-resolve).
    var clientsAt: Side = .source
    /// Every change some serving host acknowledged to its client, and late traffic delivered to
    /// the target (must be applied exactly once).
    var acknowledged: [UInt64] = []
    var lateDelivered: [UInt64] = []
    /// True once the target built a replica from the snapshot.
    var replicaInstalled = false
    private var migrationStarted = false
    private var nextChange: UInt64 = 1
    private var timerGenerations: [String: Int] = [:]
    private var lastArrival: [Side: Duration] = [:]
    private var random: SeededGenerator
    var log: [String] = []

    init(seed: UInt64, fault: Fault) {
        self.fault = fault
        random = SeededGenerator(seed: seed)
    }

    /// The source's migration, under way or ended, and its phase.
    var sourcePhase: MigrationSourceStateMachine.Phase? {
        guard case .source(let machine, _) = hosting[.source]!.migration ?? hosting[.source]!.finished else {
            return nil
        }
        return machine.phase
    }

    /// The target's migration, under way or ended.
    var targetMachine: MigrationTargetStateMachine? {
        guard case .target(let machine) = hosting[.target]!.migration ?? hosting[.target]!.finished else { return nil }
        return machine
    }

    /// The epoch a side serves (or would serve) under.
    func epoch(_ side: Side) -> UInt64 { hosting[side]!.epoch }

    mutating func schedule(_ event: Event, after delay: Duration) {
        order += 1
        queue.append((now + delay, order, event))
    }

    /// Runs the migration (started at 1 s) with changes every 20 ms until `until`.
    mutating func run(until end: Duration = .seconds(30)) {
        schedule(.clientChange, after: .milliseconds(20))
        schedule(.renew(.source), after: Self.lease / 3)
        // Some state before the migration starts, then the snapshot of it.
        while let index = queue.indices.min(by: { (queue[$0].at, queue[$0].order) < (queue[$1].at, queue[$1].order) }),
            queue[index].at <= end
        {
            let (at, _, event) = queue.remove(at: index)
            now = at
            if now >= .seconds(1) && !migrationStarted && hosts[.source]!.alive { startMigration() }
            handle(event)
        }
    }

    private mutating func startMigration() {
        migrationStarted = true
        let state = hosts[.source]!.state!
        let snapshot = (UInt64(state.count), UInt32(state.count * 8), Self.encode(state))
        carryOut(
            .source,
            hosting[.source]!.handle(
                .migrate(
                    id: 7, from: Self.names[.source]!, to: Self.names[.target]!, lease: Self.lease,
                    identity: Self.identity, snapshot: snapshot)))
    }

    static func encode(_ values: [UInt64]) -> [UInt8] {
        var writer = WireWriter()
        for value in values { writer.integer(value) }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) -> [UInt64] {
        var reader = WireReader(bytes)
        var values: [UInt64] = []
        while !reader.isAtEnd { values.append(try! reader.integer()) }
        return values
    }

    private mutating func handle(_ event: Event) {
        switch event {
        case .deliver(let side, let message):
            guard hosts[side]!.alive, linkUp else { return }
            delivered += 1
            log.append("\(now) -> \(side): \(message)")
            carryOut(side, hosting[side]!.handle(.message(message)))
            injectFault()
        case .datagram(let side, let bytes, let sender):
            guard hosts[side]!.alive, linkUp, let late = hosting[side]!.lateMessage(inDatagram: bytes, from: sender)
            else { return }
            carryOut(side, hosting[side]!.handle(.message(late)))
        case .timer(let side, let timer, let generation):
            guard hosts[side]!.alive, timerGenerations["\(side) \(timer)"] == generation else { return }
            carryOut(side, hosting[side]!.handle(.timerFired(timer)))
        case .unreachable(let side):
            guard hosts[side]!.alive else { return }
            carryOut(side, hosting[side]!.handle(.peerUnreachable))
        case .clientChange:
            schedule(.clientChange, after: .milliseconds(20))
            change()
        case .renew(let side):
            renew(side)
        }
    }

    /// One client change at the host the clients use.
    private mutating func change() {
        let side = clientsAt
        guard hosts[side]!.alive, hosting[side]!.role != .closed, hosting[side]!.role != .replica else {
            // The clients' control channel broke: they resolve the service again.
            if let record, hosts[record.side]!.alive, now - record.renewed < Self.lease { clientsAt = record.side }
            return
        }
        let value = nextChange
        nextChange += 1
        if hosting[side]!.role == .primary {
            hosts[side]!.state!.append(value)
            let sequence = UInt64(hosts[side]!.state!.count)
            carryOut(side, hosting[side]!.handle(.changed(sequence: sequence, operation: Self.encode([value]))))
            carryOut(side, hosting[side]!.answer(value, through: sequence))
        } else {
            // After the commit the host hands the change on; the target applies it once.
            carryOut(side, hosting[side]!.handle(.late(traffic: Self.encode([value]))))
        }
    }

    /// A serving host renews its record at a third of the lease and checks what the registry
    /// shows (the registry keeps the higher epoch unless its record expired).
    private mutating func renew(_ side: Side) {
        guard hosts[side]!.alive, hosting[side]!.role == .primary else { return }
        schedule(.renew(side), after: Self.lease / 3)
        let expired = record.map { now - $0.renewed >= Self.lease } ?? true
        if let record, record.side != side, !expired {
            let outputs = hosting[side]!.handle(.registryShows(epoch: record.epoch))
            carryOut(side, outputs)
            guard hosting[side]!.role == .primary else { return }
        }
        if expired || record!.epoch <= epoch(side) {
            record = (side, epoch(side), now)
        }
    }

    private mutating func send(_ message: MigrationMessage, to side: Side) {
        guard linkUp else { return }
        // One connection each way: in order, 0.2-5 ms each.
        let delay = Duration.microseconds(200 + Int64(random.next() % 4800))
        let arrival = max(now + delay, (lastArrival[side] ?? .zero) + .microseconds(1))
        lastArrival[side] = arrival
        schedule(.deliver(to: side, message), after: arrival - now)
    }

    /// Carries out what a side's hosting core decided, as a shell would.
    private mutating func carryOut(_ side: Side, _ outputs: [Hosting.Output]) {
        for output in outputs {
            switch output {
            case .send(let message, _):
                send(message, to: side.other)
            case .sendDatagram(let bytes, _):
                // Its own delay, not the connection's order: it may overtake the frames.
                guard linkUp else { break }
                let host = HostPort(Self.names[side]!.overlay)!.host
                schedule(
                    .datagram(to: side.other, bytes, from: "\(host):5000"),
                    after: .microseconds(200 + Int64(random.next() % 4800)))
            case .setTimer(let timer, let delay):
                let key = "\(side) \(timer)"
                let generation = (timerGenerations[key] ?? 0) + 1
                timerGenerations[key] = generation
                schedule(.timer(side, timer, generation: generation), after: delay)
            case .cancelTimer(let timer):
                timerGenerations["\(side) \(timer)", default: 0] += 1
            case .deliver(let values):
                acknowledged += values
            case .journal:
                break
            case .freeze:
                let state = hosts[side]!.state!
                carryOut(side, hosting[side]!.handle(.frozen(size: UInt32(state.count * 8), state: Self.encode(state))))
            case .redirectClients:
                if clientsAt == side { clientsAt = side.other }
            case .install(_, let state):
                replicaInstalled = true
                hosts[side]!.state = Self.decode(state)
                hosts[side]!.fromSource = hosts[side]!.state!.count
            case .apply(let operation):
                hosts[side]!.state!.append(contentsOf: Self.decode(operation))
                hosts[side]!.fromSource += 1
            case .handleLate(let traffic):
                let values = Self.decode(traffic)
                if side == .target { lateDelivered += values }
                hosts[side]!.state!.append(contentsOf: values)
                acknowledged += values
            case .register:
                renew(side)
            case .withdraw:
                if record?.side == side { record = nil }
            case .lookUpRecord:
                let fresh = record.flatMap { now - $0.renewed < Self.lease ? $0 : nil }
                carryOut(
                    side, hosting[side]!.handle(.record(epoch: fresh?.epoch, hosts: fresh.map { ["\($0.side)"] } ?? []))
                )
            case .superseded(let epoch):
                log.append("\(now) \(side) sees epoch \(epoch) > \(self.epoch(side)) and stops")
            case .phase(_, _, _, let phase):
                log.append("\(now) \(side) \(phase)")
            case .serving, .ended, .transfer, .over:
                break
            case .recruit, .takeSnapshot, .heartbeats, .claim, .standbysChanged, .notifyClients, .tookOver, .lostClaim,
                .failoverPhase:
                // No standbys in this world (the standby simulation has them).
                break
            }
        }
    }

    private mutating func injectFault() {
        switch fault {
        case .crash(let side, let count) where delivered == count:
            hosts[side]!.alive = false
            linkUp = false
            log.append("\(now) \(side) crashes")
            schedule(.unreachable(side.other), after: .milliseconds(50))
        case .cut(let count) where delivered == count:
            linkUp = false
            log.append("\(now) link cut")
            schedule(.unreachable(.source), after: .milliseconds(50))
            schedule(.unreachable(.target), after: .milliseconds(50))
        default: break
        }
    }

    /// Live hosts serving at the end, by side.
    var primaries: [Side] { [Side.source, .target].filter { hosts[$0]!.alive && hosting[$0]!.role == .primary } }
}
