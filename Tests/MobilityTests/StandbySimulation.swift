import OverlayCore

@testable import Mobility

/// A service with hot standbys on a simulated network with virtual time: four hosts, each with
/// the shipping hosting core (`ServiceHosting`) carried out as a shell would; a service whose
/// state is the list of changes applied (each a number), a client that makes one every 20 ms at
/// the host it knows as the primary and follows takeover notices, a registry that stores one
/// record per epoch (the fence), and one fault: a host (the primary, or a standby) crashes,
/// hangs for a second or is cut off from the others for a second, right after the n-th
/// protocol frame was delivered. A hung host's frames, datagrams and timers wait for it, as
/// its sockets' buffers would. Seeded: the same seed replays the same run.
struct StandbyWorld {
    typealias Hosting = ServiceHosting<UInt64>
    typealias Host = Int

    enum Target: Equatable, CustomStringConvertible {
        case primary, standby

        var description: String { self == .primary ? "primary" : "standby" }
    }

    enum Fault: Equatable {
        case none
        case crash(Target, afterFrames: Int)
        case pause(Target, afterFrames: Int)
        case cut(Target, afterFrames: Int)
        /// Only the link between the primary and its first standby fails, for a second: both
        /// still reach the registry and the client.
        case sever(afterFrames: Int)
    }

    enum Event {
        case deliver(to: Host, MigrationMessage)
        case datagram(to: Host, [UInt8], from: String)
        case timer(Host, Hosting.Timer, generation: Int)
        case heartbeat(Host, generation: Int)
        case claimAnswer(Host, epoch: UInt64, stored: Bool)
        case recordAnswer(Host, epoch: UInt64?, hosts: [String])
        case crash(Host)
        case recruitAnswer(Host, stream: UInt64, candidate: Host?)
        case notice(Host)
        case clientChange
        case watch
        case resume(Host)
        case heal
    }

    static let hosts = 0..<4
    static let identity = ServiceIdentity(kind: "counter", version: 1, digest: [1, 2, 3])
    static func peer(_ host: Host) -> MigrationMessage.Peer {
        MigrationMessage.Peer(name: "h\(host)", overlay: "10.0.0.\(host + 1):4000")
    }
    static func data(_ host: Host) -> String { "10.0.0.\(host + 1):5000" }
    static func control(_ host: Host) -> String { "10.0.0.\(host + 1):7000" }
    static func host(atOverlay address: String) -> Host? { hosts.first { peer($0).overlay == address } }
    static func host(atData address: String) -> Host? { hosts.first { data($0) == address } }

    let fault: Fault
    /// A second fault, at a failover's phase: whichever host reaches it first crashes, at once
    /// (nothing after the phase gets out) or this long after.
    let phaseFault: (phase: FailoverPhase, after: Duration)?
    let wanted: UInt8
    var now: Duration = .zero
    var hosting: [Host: Hosting] = [:]
    /// Each host's service state (the changes applied, in order), when it holds one.
    var states: [Host: [UInt64]] = [:]
    var alive: Set<Host> = Set(hosts)
    /// Hosts that are hung, until when; the host cut off from the others, if any.
    var pausedUntil: [Host: Duration] = [:]
    var isolated: Host?
    /// The two hosts that cannot reach each other, if any.
    var severed: Set<Host> = []
    /// The registry: the host and epoch of the service's record, and the standbys its claim
    /// named (control addresses).
    var record: (host: Host, epoch: UInt64, named: [String]) = (0, 1, [])
    var clientsAt: Host = 0
    /// Every change a host confirmed to the client: which, by whom, under which epoch, when.
    var acknowledged: [(value: UInt64, host: Host, epoch: UInt64, at: Duration)] = []
    var delivered = 0
    var faultAt: Duration?
    /// True when some standby held the state when the fault struck; how many did.
    var standbyHeldState = false
    var readyAtFault = 0
    var log: [String] = []
    /// Every failover phase a host reached, in order.
    var phases: [(host: Host, phase: FailoverPhase, epoch: UInt64)] = []
    private var phaseFaultFired = false
    private var queue: [(at: Duration, order: Int, event: Event)] = []
    private var order = 0
    private var nextChange: UInt64 = 1
    private var nextStream: UInt64 = 100
    private var timerGenerations: [String: Int] = [:]
    private var heartbeatGenerations: [Host: Int] = [:]
    private var lastArrival: [String: Duration] = [:]
    private var random: SeededGenerator

    init(seed: UInt64, fault: Fault, standbys: UInt8, phaseFault: (FailoverPhase, after: Duration)? = nil) {
        self.fault = fault
        self.phaseFault = phaseFault
        wanted = standbys
        random = SeededGenerator(seed: seed)
        hosting[0] = Hosting(primary: "svc", epoch: 1)
        states[0] = []
    }

    /// The hosts that serve the service at the end.
    var primaries: [Host] {
        hosting.keys.sorted().filter { alive.contains($0) && hosting[$0]!.role == .primary }
    }

    /// Queues an event; the queue stays sorted latest first, so the next one is its last.
    mutating func schedule(_ event: Event, after delay: Duration) {
        enqueue(event, at: now + delay)
    }

    private mutating func enqueue(_ event: Event, at instant: Duration) {
        order += 1
        var low = 0
        var high = queue.count
        while low < high {
            let middle = (low + high) / 2
            if (queue[middle].at, queue[middle].order) > (instant, order) { low = middle + 1 } else { high = middle }
        }
        queue.insert((instant, order, event), at: low)
    }

    mutating func run(until end: Duration = .seconds(4)) {
        carryOut(0, hosting[0]!.handle(.keepStandbys(count: wanted, me: Self.peer(0))))
        schedule(.clientChange, after: .milliseconds(20))
        schedule(.watch, after: .seconds(1))
        // A fault late in the run still gets three seconds to settle (a hang or a cut lasts one).
        while let next = queue.last, next.at <= max(end, (faultAt ?? .zero) + .seconds(3)) {
            queue.removeLast()
            now = next.at
            let event = next.event
            if let host = Self.target(of: event), let until = pausedUntil[host] {
                // Hung: everything for it waits in its buffers until it runs again.
                enqueue(event, at: max(until, now))
                continue
            }
            handle(event)
        }
    }

    private static func target(of event: Event) -> Host? {
        switch event {
        case .deliver(let host, _), .datagram(let host, _, _), .timer(let host, _, _), .heartbeat(let host, _),
            .claimAnswer(let host, _, _), .recruitAnswer(let host, _, _), .recordAnswer(let host, _, _):
            host
        case .notice, .clientChange, .watch, .resume, .heal, .crash: nil
        }
    }

    private func linked(_ a: Host, _ b: Host) -> Bool {
        isolated != a && isolated != b && !(severed.contains(a) && severed.contains(b) && a != b)
    }

    private mutating func handle(_ event: Event) {
        switch event {
        case .deliver(let host, let message):
            guard alive.contains(host) else { return }
            delivered += 1
            switch message {
            case .snapshot(let stream, let sequence, _, _):
                log.append("\(now) -> h\(host): snapshot of stream \(stream) at \(sequence)")
            case .operations, .acknowledge: break
            default: log.append("\(now) -> h\(host): \(message)")
            }
            if hosting[host].map({ $0.concerns(message) && $0.role != .closed }) != true {
                guard case .follow(let stream, _, _, let epoch, let count, let primary) = message else { return }
                // A follow for a host that holds nothing of the service: it stands by.
                guard hosting[host].map({ $0.role == .closed }) ?? true else {
                    return send(.refuse(migration: stream, reason: "hosts it"), from: host, to: primary.overlay)
                }
                hosting[host] = Hosting(
                    standbyOf: "svc", stream: stream, primary: primary, epoch: epoch, standbys: count,
                    me: Self.peer(host), contact: Self.control(host), data: Self.data(host))
                states[host] = nil
            }
            carryOut(host, hosting[host]!.handle(.message(message)))
            injectFault()
        case .datagram(let host, let bytes, let sender):
            guard alive.contains(host), let heartbeat = try? StandbyHeartbeat(bytes: bytes) else { return }
            carryOut(host, hosting[host]!.handle(.heartbeat(heartbeat, from: sender, now: now)))
        case .timer(let host, let timer, let generation):
            guard alive.contains(host), timerGenerations["\(host) \(timer)"] == generation else { return }
            carryOut(host, hosting[host]!.handle(.timerFired(timer)))
        case .heartbeat(let host, let generation):
            guard alive.contains(host), heartbeatGenerations[host] == generation else { return }
            schedule(.heartbeat(host, generation: generation), after: hosting[host]!.standbySettings.heartbeatInterval)
            carryOut(host, hosting[host]!.handle(.heartbeatTick(now: now)))
        case .claimAnswer(let host, let epoch, let stored):
            guard alive.contains(host) else { return }
            log.append("\(now) h\(host) claim of epoch \(epoch): \(stored ? "stored" : "refused")")
            carryOut(host, hosting[host]!.handle(.claimed(epoch: epoch, stored: stored, now: now)))
        case .recruitAnswer(let host, let stream, let candidate):
            guard alive.contains(host) else { return }
            carryOut(
                host,
                hosting[host]!.handle(
                    .recruited(stream: stream, peer: candidate.map(Self.peer), identity: Self.identity)))
        case .notice(let host):
            clientsAt = host
        case .clientChange:
            schedule(.clientChange, after: .milliseconds(20))
            change()
        case .watch:
            // Each primary's registry check (a third of the lease, scaled down).
            schedule(.watch, after: .seconds(1))
            for host in primaries where pausedUntil[host] == nil {
                carryOut(host, hosting[host]!.handle(.registryShows(epoch: record.epoch)))
            }
        case .recordAnswer(let host, let epoch, let hosts):
            guard alive.contains(host) else { return }
            carryOut(host, hosting[host]!.handle(.record(epoch: epoch, hosts: hosts)))
        case .crash(let host):
            alive.remove(host)
            log.append("\(now) h\(host) crashes (at its phase)")
        case .resume(let host):
            pausedUntil[host] = nil
            log.append("\(now) h\(host) runs again")
        case .heal:
            isolated = nil
            severed = []
            log.append("\(now) healed")
        }
    }

    /// One change by the client at the host it knows as the primary.
    private mutating func change() {
        let host = clientsAt
        let value = nextChange
        nextChange += 1
        guard alive.contains(host), pausedUntil[host] == nil, isolated != host, var core = hosting[host],
            core.role == .primary
        else {
            // Nothing answers: the client resolves the service again.
            if alive.contains(record.host) { clientsAt = record.host }
            return
        }
        guard core.maySend(now: now) else {
            carryOut(host, hosting[host]!.handle(.leaseCheck(now: now)))
            return
        }
        states[host, default: []].append(value)
        let sequence = UInt64(states[host]!.count)
        var outputs = core.handle(.changed(sequence: sequence, operation: Self.encode([value])))
        outputs += core.answer(value, through: sequence)
        hosting[host] = core
        carryOut(host, outputs)
    }

    private mutating func send(_ message: MigrationMessage, from host: Host, to address: String) {
        guard let target = Self.host(atOverlay: address), linked(host, target) else { return }
        // One connection each way: in order, 0.2-5 ms each.
        let key = "\(host) \(target)"
        let arrival = max(
            now + .microseconds(200 + Int64(random.next() % 4800)), (lastArrival[key] ?? .zero) + .microseconds(1))
        lastArrival[key] = arrival
        schedule(.deliver(to: target, message), after: arrival - now)
    }

    private mutating func carryOut(_ host: Host, _ outputs: [Hosting.Output]) {
        for output in outputs where alive.contains(host) {
            switch output {
            case .send(let message, let address):
                send(message, from: host, to: address)
            case .sendDatagram(let bytes, let address):
                guard let target = Self.host(atData: address), linked(host, target) else { continue }
                schedule(
                    .datagram(to: target, bytes, from: Self.data(host)),
                    after: .microseconds(200 + Int64(random.next() % 4800)))
            case .setTimer(let timer, let delay):
                let key = "\(host) \(timer)"
                let generation = (timerGenerations[key] ?? 0) + 1
                timerGenerations[key] = generation
                schedule(.timer(host, timer, generation: generation), after: delay)
            case .cancelTimer(let timer):
                timerGenerations["\(host) \(timer)", default: 0] += 1
            case .deliver(let values):
                // The shell's gate: a primary that may have been replaced says nothing.
                let core = hosting[host]!
                guard core.role != .primary || core.maySend(now: now) else { continue }
                acknowledged += values.map { ($0, host, core.epoch, now) }
            case .install(_, let state):
                states[host] = Self.decode(state)
            case .apply(let operation):
                states[host, default: []] += Self.decode(operation)
            case .heartbeats(let on):
                heartbeatGenerations[host, default: 0] += 1
                if on {
                    schedule(.heartbeat(host, generation: heartbeatGenerations[host]!), after: .zero)
                }
            case .recruit:
                // The nearest peer that holds nothing of the service and answers (a hung one
                // does not); a query's round trip later.
                let candidate = Self.hosts.first { other in
                    other != host && alive.contains(other) && pausedUntil[other] == nil && linked(host, other)
                        && (hosting[other].map { $0.role == .closed } ?? true)
                }
                nextStream += 1
                schedule(.recruitAnswer(host, stream: nextStream, candidate: candidate), after: .milliseconds(2))
            case .takeSnapshot(let stream):
                let state = states[host] ?? []
                carryOut(
                    host,
                    hosting[host]!.handle(
                        .snapshotTaken(
                            stream: stream, sequence: UInt64(state.count), size: UInt32(state.count * 8),
                            state: Self.encode(state), now: now)))
            case .claim(let epoch, let keeping):
                // The registry stores one record per epoch: the first claim of it wins. A host
                // cut off from the others does not reach it.
                guard isolated != host else {
                    schedule(.claimAnswer(host, epoch: epoch, stored: false), after: .milliseconds(50))
                    continue
                }
                let stored = epoch > record.epoch
                if stored { record = (host, epoch, keeping) }
                schedule(.claimAnswer(host, epoch: epoch, stored: stored), after: .milliseconds(3))
            case .notifyClients:
                schedule(.notice(host), after: .milliseconds(1))
            case .tookOver(let from, let epoch, _, _):
                log.append("\(now) h\(host) took over from \(from) under epoch \(epoch)")
            case .lostClaim(let epoch):
                log.append("\(now) h\(host) lost its claim of epoch \(epoch) and stops")
            case .failoverPhase(let phase, let epoch, _):
                log.append("\(now) h\(host) \(phase) epoch \(epoch)")
                phases.append((host, phase, epoch))
                if let phaseFault, phaseFault.phase == phase, !phaseFaultFired {
                    phaseFaultFired = true
                    if phaseFault.after == .zero {
                        alive.remove(host)
                        log.append("\(now) h\(host) crashes at its \(phase)")
                    } else {
                        schedule(.crash(host), after: phaseFault.after)
                    }
                }
            case .lookUpRecord:
                // The registry's record, a round trip later; none from a host cut off from it.
                let answer = isolated == host ? nil : record
                schedule(
                    .recordAnswer(
                        host, epoch: answer?.epoch, hosts: answer.map { [Self.control($0.host)] + $0.named } ?? []),
                    after: .milliseconds(isolated == host ? 50 : 3))
            case .superseded(let epoch):
                log.append("\(now) h\(host) sees epoch \(epoch) and stops")
            case .journal, .freeze, .redirectClients, .handleLate, .register, .withdraw, .serving,
                .ended, .phase, .transfer, .over, .standbysChanged:
                break
            }
        }
    }

    private mutating func injectFault() {
        let (target, count): (Target, Int)
        switch fault {
        case .none: return
        case .crash(let t, let n), .pause(let t, let n), .cut(let t, let n): (target, count) = (t, n)
        case .sever(let n): (target, count) = (.standby, n)
        }
        guard delivered == count, faultAt == nil, let primary = primaries.first else { return }
        let ready = hosting[primary]!.standbys.sorted { $0.key < $1.key }.first { $0.value.acknowledged != nil }
        standbyHeldState = ready != nil
        readyAtFault = hosting[primary]!.readyStandbys.count
        guard
            let victim = target == .primary
                ? primary : ready.flatMap({ Self.host(atOverlay: $0.value.peer.overlay) })
        else { return }
        faultAt = now
        switch fault {
        case .crash:
            alive.remove(victim)
            log.append("\(now) h\(victim) (the \(target)) crashes")
        case .pause:
            pausedUntil[victim] = now + .seconds(1)
            schedule(.resume(victim), after: .seconds(1))
            log.append("\(now) h\(victim) (the \(target)) hangs")
        case .cut:
            isolated = victim
            schedule(.heal, after: .seconds(1))
            log.append("\(now) h\(victim) (the \(target)) is cut off")
        case .sever:
            severed = [primary, victim]
            schedule(.heal, after: .seconds(1))
            log.append("\(now) the link between h\(primary) and h\(victim) fails")
        case .none:
            break
        }
    }

    static func encode(_ values: [UInt64]) -> [UInt8] { MigrationWorld.encode(values) }
    static func decode(_ bytes: [UInt8]) -> [UInt64] { MigrationWorld.decode(bytes) }
}
