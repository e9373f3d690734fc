import OverlayCore

@testable import Mobility

/// Two hosts migrating one service on a simulated network with virtual time: the real source
/// and target state machines, a service whose state is the list of operations applied (each a
/// number), clients that change it every 20 ms at whichever host they use, a registry with
/// leases where the higher epoch wins, and faults: a host crash or a cut link after any
/// number of protocol messages. Seeded: the same seed replays the same run.
struct MigrationWorld {
    enum Side: Hashable { case source, target }

    enum Fault: Equatable {
        case none
        /// This side crashes right after the n-th protocol message was delivered.
        case crash(Side, afterMessages: Int)
        /// The connection breaks (both ways) right after the n-th message.
        case cut(afterMessages: Int)
    }

    /// One host: alive, serving under an epoch, its state (operation values in order), and for
    /// the target the number of source operations its replica holds.
    struct Host {
        var alive = true
        var serving = false
        var frozen = false
        var epoch: UInt64 = 0
        var state: [UInt64]?
        var fromSource = 0
    }

    enum Event {
        case deliver(to: Side, MigrationMessage)
        case sourceTimer(MigrationSourceStateMachine.Timer, generation: Int)
        case targetTimer(MigrationTargetStateMachine.Timer, generation: Int)
        case unreachable(Side)
        case clientChange
        case renew(Side)
    }

    static let lease: Duration = .seconds(3)
    let fault: Fault
    var now: Duration = .zero
    private var queue: [(at: Duration, order: Int, event: Event)] = []
    private var order = 0
    var source: MigrationSourceStateMachine
    var target: MigrationTargetStateMachine
    var hosts: [Side: Host] = [.source: Host(serving: true, epoch: 1, state: []), .target: Host()]
    /// The registry's record: who, under which epoch, renewed when.
    var record: (side: Side, epoch: UInt64, renewed: Duration)? = (.source, 1, .zero)
    var linkUp = true
    var delivered = 0
    /// Where the clients send their changes (they move on a redirect, or re-resolve).
    var clientsAt: Side = .source
    /// Every change some serving host applied (acknowledged to its client), and late traffic
    /// delivered to the target (must be applied exactly once).
    var acknowledged: [UInt64] = []
    var lateDelivered: [UInt64] = []
    /// True once the target built a replica from the snapshot.
    var replicaInstalled = false
    /// Changes the source applied during the migration, waiting for the target to hold them.
    private var waitingForTarget: [(sequence: UInt64, value: UInt64)] = []
    private var nextChange: UInt64 = 1
    private var timerGenerations: [String: Int] = [:]
    private var lastArrival: [Side: Duration] = [:]
    private var random: SeededGenerator
    var log: [String] = []

    init(seed: UInt64, fault: Fault) {
        self.fault = fault
        random = SeededGenerator(seed: seed)
        var sourceSettings = MigrationSourceStateMachine.Settings()
        sourceSettings.lease = Self.lease
        sourceSettings.grace = .seconds(1)
        var targetSettings = MigrationTargetStateMachine.Settings()
        targetSettings.lease = Self.lease
        let identity = ServiceIdentity(kind: "counter", version: 1, digest: [1, 2, 3])
        source = MigrationSourceStateMachine(
            migration: 7, service: "svc", source: Self.sourceHost, identity: identity, epoch: 2, snapshot: (0, 0, []), settings: sourceSettings)
        target = MigrationTargetStateMachine(
            catalogue: ServiceCatalogue([identity]), contact: "10.0.0.2:7000", settings: targetSettings)
    }

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
            if now >= .seconds(1) && source.phase == nil && hosts[.source]!.alive { startMigration() }
            handle(event)
        }
    }

    private mutating func startMigration() {
        let state = hosts[.source]!.state!
        let identity = source.identity
        var settings = source.settings
        settings.lease = Self.lease
        source = MigrationSourceStateMachine(
            migration: 7, service: "svc", source: Self.sourceHost, identity: identity, epoch: 2,
            snapshot: (UInt64(state.count), UInt32(state.count * 8), Self.encode(state)), settings: settings)
        carryOut(source: source.handle(.start))
    }

    static let sourceHost = MigrationMessage.Host(name: "source", overlay: "10.0.0.1:4000")

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
            if side == .source {
                carryOut(source: source.handle(.message(message)))
            } else {
                carryOut(target: target.handle(.message(message)))
            }
            injectFault()
        case .sourceTimer(let timer, let generation):
            guard hosts[.source]!.alive, timerGenerations["s\(timer)"] == generation else { return }
            carryOut(source: source.handle(.timerFired(timer)))
        case .targetTimer(let timer, let generation):
            guard hosts[.target]!.alive, timerGenerations["t\(timer)"] == generation else { return }
            carryOut(target: target.handle(.timerFired(timer)))
        case .unreachable(let side):
            guard hosts[side]!.alive else { return }
            if side == .source {
                carryOut(source: source.handle(.targetUnreachable))
            } else {
                carryOut(target: target.handle(.sourceUnreachable))
            }
        case .clientChange:
            schedule(.clientChange, after: .milliseconds(20))
            change()
        case .renew(let side):
            renew(side)
        }
    }

    /// One client change at the host the clients use.
    private mutating func change() {
        var host = hosts[clientsAt]!
        guard host.alive, host.serving || host.frozen else {
            // The clients' control channel broke: they resolve the service again.
            if let record, hosts[record.side]!.alive, now - record.renewed < Self.lease { clientsAt = record.side }
            return
        }
        let value = nextChange
        if host.serving && !host.frozen {
            nextChange += 1
            host.state!.append(value)
            hosts[clientsAt] = host
            let sequence = UInt64(host.state!.count)
            if clientsAt == .source, let phase = source.phase, phase == .prepare || phase == .sync {
                waitingForTarget.append((sequence, value))
                carryOut(source: source.handle(.changed(sequence: sequence, operation: Self.encode([value]))))
            } else {
                acknowledged.append(value)
            }
        } else if clientsAt == .source, host.frozen {
            // After the commit the source hands the change on; the target applies it once.
            nextChange += 1
            carryOut(source: source.handle(.late(traffic: Self.encode([value]))))
        }
    }

    private mutating func renew(_ side: Side) {
        guard hosts[side]!.alive, hosts[side]!.serving else { return }
        schedule(.renew(side), after: Self.lease / 3)
        let expired = record.map { now - $0.renewed >= Self.lease } ?? true
        if let record, record.side != side, record.epoch > hosts[side]!.epoch, !expired {
            // A host that learns of a higher epoch stops serving.
            hosts[side]!.serving = false
            log.append("\(now) \(side) sees epoch \(record.epoch) > \(hosts[side]!.epoch) and stops")
            return
        }
        if expired || record!.epoch <= hosts[side]!.epoch {
            record = (side, hosts[side]!.epoch, now)
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

    private mutating func setTimer(_ key: String, _ event: (Int) -> Event, after delay: Duration) {
        let generation = (timerGenerations[key] ?? 0) + 1
        timerGenerations[key] = generation
        schedule(event(generation), after: delay)
    }

    private mutating func carryOut(source outputs: [MigrationSourceStateMachine.Output]) {
        for output in outputs {
            switch output {
            case .send(let message): send(message, to: .target)
            case .setTimer(let timer, let delay): setTimer("s\(timer)", { .sourceTimer(timer, generation: $0) }, after: delay)
            case .cancelTimer(let timer): timerGenerations["s\(timer)", default: 0] += 1
            case .replicated(let through):
                acknowledged += waitingForTarget.filter { $0.sequence <= through }.map(\.value)
                waitingForTarget.removeAll { $0.sequence <= through }
            case .freeze: hosts[.source]!.frozen = true
            case .resume:
                hosts[.source]!.frozen = false
                acknowledged += waitingForTarget.map(\.value)
                waitingForTarget = []
            case .redirectClients: if clientsAt == .source { clientsAt = .target }
            case .release:
                hosts[.source]!.serving = false
                hosts[.source]!.state = hosts[.source]!.state  // kept for the checks
            case .checkTarget:
                let serving = record.map { $0.side == .target && now - $0.renewed < Self.lease } ?? false
                carryOut(source: source.handle(.targetRecord(serving: serving)))
            case .takeBack(let epoch):
                hosts[.source]!.serving = true
                hosts[.source]!.frozen = false
                hosts[.source]!.epoch = epoch
                renew(.source)
            case .replay(let traffic):
                let values = Self.decode(traffic)
                hosts[.source]!.state!.append(contentsOf: values)
                acknowledged += values
            case .phase(let phase): log.append("\(now) source \(phase)")
            }
        }
    }

    private mutating func carryOut(target outputs: [MigrationTargetStateMachine.Output]) {
        for output in outputs {
            switch output {
            case .send(let message): send(message, to: .source)
            case .setTimer(let timer, let delay): setTimer("t\(timer)", { .targetTimer(timer, generation: $0) }, after: delay)
            case .cancelTimer(let timer): timerGenerations["t\(timer)", default: 0] += 1
            case .install(_, _, let state):
                replicaInstalled = true
                hosts[.target]!.state = Self.decode(state)
                hosts[.target]!.fromSource = hosts[.target]!.state!.count
            case .apply(_, let operation):
                hosts[.target]!.state!.append(contentsOf: Self.decode(operation))
                hosts[.target]!.fromSource += 1
            case .serve(let epoch):
                hosts[.target]!.serving = true
                hosts[.target]!.epoch = epoch
                renew(.target)
            case .deliver(let traffic):
                let values = Self.decode(traffic)
                lateDelivered += values
                hosts[.target]!.state!.append(contentsOf: values)
                acknowledged += values
            case .checkSource:
                let alive = record.map { $0.side == .source && now - $0.renewed < Self.lease } ?? false
                carryOut(target: target.handle(.sourceRecord(alive: alive)))
            case .discard: hosts[.target]!.state = nil
            case .phase(let phase): log.append("\(now) target \(phase)")
            }
        }
    }

    private mutating func injectFault() {
        switch fault {
        case .crash(let side, let count) where delivered == count:
            hosts[side]!.alive = false
            linkUp = false
            log.append("\(now) \(side) crashes")
            schedule(.unreachable(side == .source ? .target : .source), after: .milliseconds(50))
        case .cut(let count) where delivered == count:
            linkUp = false
            log.append("\(now) link cut")
            schedule(.unreachable(.source), after: .milliseconds(50))
            schedule(.unreachable(.target), after: .milliseconds(50))
        default: break
        }
    }

    /// Live hosts serving at the end, by side.
    var primaries: [Side] { [Side.source, .target].filter { hosts[$0]!.alive && hosts[$0]!.serving } }
}
