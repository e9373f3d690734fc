import OverlayCore

extension Scenario {
    /// Expands the timeline for `seed` (default: the scenario's) into single-peer actions, and
    /// checks every action against the membership at its instant: a leave of a peer that is
    /// not running, a resume of one that is not paused, and so on, are diagnostics at the step.
    public func plan(seed: UInt64? = nil) throws(Diagnostics) -> TimelinePlan {
        var planner = TimelinePlanner(scenario: self, seed: seed ?? self.seed)
        return try planner.run()
    }
}

/// Walks the steps in order, keeping each peer's state, and churn's future actions in a queue
/// applied as time passes them.
struct TimelinePlanner {
    let scenario: Scenario
    let seed: UInt64

    /// What a peer is doing at the current instant, and since when.
    enum State {
        case running, paused
        case ended(how: String, at: Duration, byChurn: Bool = false)
    }

    private var states: [PeerName: State] = [:]
    private var nextIndex: Int
    private var actions: [(action: PlannedAction, order: Int)] = []
    private var pendingChurn: [(action: PlannedAction, order: Int)] = []
    private var order = 0
    private var diagnostics: [Diagnostic] = []
    private var everSpawned: [PeerName] = []
    private var end: Duration = .zero

    init(scenario: Scenario, seed: UInt64) {
        self.scenario = scenario
        self.seed = seed
        nextIndex = scenario.peerCount + 1
    }

    mutating func run() throws(Diagnostics) -> TimelinePlan {
        var stopAt: Duration?
        for (index, step) in scenario.steps.enumerated() {
            applyChurn(upTo: step.at)
            switch step.action {
            case .spawn(let selection): spawn(selection, step: step, index: index)
            case .leave(let selection): apply(selection, step: step, index: index, verb: "leave")
            case .crash(let selection): apply(selection, step: step, index: index, verb: "crash")
            case .pause(let selection): apply(selection, step: step, index: index, verb: "pause")
            case .resume(let selection): apply(selection, step: step, index: index, verb: "resume")
            case .hostFault(let fault):
                // Who hosts it is known only while the run goes on; that something does is checked.
                let deployed = scenario.steps[..<index].contains {
                    if case .deploy(_, fault.service, _, _) = $0.action { true } else { false }
                }
                if deployed {
                    append(.hostFault(fault), at: step.at, index: index)
                } else {
                    problem("no step before this one deploys \(fault.service)", step)
                }
            case .churn(let spec): churn(spec, step: step, index: index)
            case .wait(_, let timeout): append(.waitReady(timeout: timeout), at: step.at, index: index)
            case .stop:
                append(.stop, at: step.at, index: index)
                stopAt = step.at
            case .link(let peer, let profile, let direction):
                if isKnown(peer) {
                    append(.link(peer, profile: profile, direction: direction), at: step.at, index: index)
                } else {
                    problem("unknown peer \(peer): the scenario declares peer-1 ... peer-\(scenario.peerCount)", step)
                }
            case .partition(let groups):
                for name in groups.joined() where !isKnown(name) {
                    problem("unknown peer \(name): the scenario declares peer-1 ... peer-\(scenario.peerCount)", step)
                }
                append(.partition(groups), at: step.at, index: index)
            case .heal:
                append(.heal, at: step.at, index: index)
            case .join(let selection, let via):
                let names = running(selection, step: step, verb: "join")
                if let via { _ = running(.named([via]), step: step, verb: "join via") }
                append(.join(names, via: via), at: step.at, index: index)
            case .lookups(let count, let rate, let from):
                let names: [PeerName]? =
                    if case .named = from { running(from, step: step, verb: "look up from") } else { nil }
                append(.lookups(count: count, rate: rate, from: names), at: step.at, index: index)
            case .register(let peer, let service, let lease):
                _ = running(.named([peer]), step: step, verb: "register from")
                append(.register(peer, service: service, lease: lease), at: step.at, index: index)
            case .resolve(let peer, let service):
                _ = running(.named([peer]), step: step, verb: "resolve from")
                append(.resolve(peer, service: service), at: step.at, index: index)
            case .deploy(let peer, let service, let kind, let replicas):
                _ = running(.named([peer]), step: step, verb: "deploy on")
                append(.deploy(peer, service: service, kind: kind, replicas: replicas), at: step.at, index: index)
            case .migrate(let service, let target):
                _ = running(.named([target]), step: step, verb: "migrate to")
                append(.migrate(service: service, to: target), at: step.at, index: index)
            case .clients(let spec):
                for name in running(spec.peers, step: step, verb: "start clients on") {
                    var one = spec
                    one.peers = .named([name])
                    append(.client(name, one), at: step.at, index: index)
                }
            }
            end = max(end, step.at)
        }
        applyChurn(upTo: stopAt ?? .seconds(Int64.max / 2))
        if let stopAt { end = stopAt }
        guard diagnostics.isEmpty else { throw Diagnostics(diagnostics) }
        let sorted = actions.sorted { ($0.action.at, $0.order) < ($1.action.at, $1.order) }.map(\.action)
        return TimelinePlan(seed: seed, actions: sorted, peers: everSpawned, end: end)
    }

    /// The running peers a selection names at the step's time (`all`: every running peer);
    /// a named peer that is not running is a problem.
    private mutating func running(_ selection: PeerSelection, step: Step, verb: String) -> [PeerName] {
        switch selection {
        case .all, .count:
            let names = states.keys.sorted().filter { if case .running? = states[$0] { true } else { false } }
            if names.isEmpty { problem("no running peer to \(verb) at \(step.at.text)", step) }
            return names
        case .named(let names):
            for name in names {
                guard isKnown(name) else {
                    problem("unknown peer \(name): the scenario declares peer-1 ... peer-\(scenario.peerCount)", step)
                    continue
                }
                switch states[name] {
                case .running?, .paused?: break
                default: problem(whyNot(name, at: step.at), step)
                }
            }
            return names
        }
    }

    private mutating func append(_ kind: PlannedAction.Kind, at: Duration, index: Int, fromChurn: Bool = false) {
        actions.append((PlannedAction(at: at, kind: kind, stepIndex: index, fromChurn: fromChurn), order))
        order += 1
    }

    private mutating func problem(_ message: String, _ step: Step) {
        diagnostics.append(Diagnostic(message, at: step.position))
    }

    private func isKnown(_ name: PeerName) -> Bool {
        name.index <= scenario.peerCount || states[name] != nil
    }

    private func whyNot(_ name: PeerName, at time: Duration) -> String {
        switch states[name] {
        case .ended(let how, let when, let byChurn)?:
            "\(name) is not running at \(time.text) (\(how) at \(when.text)\(byChurn ? ", seed \(seed)" : ""))"
        default: "\(name) is not running at \(time.text) (it was never spawned)"
        }
    }

    private mutating func start(_ name: PeerName, at time: Duration, index: Int, fromChurn: Bool = false) {
        if states[name] == nil { everSpawned.append(name) }
        states[name] = .running
        append(.spawn(name), at: time, index: index, fromChurn: fromChurn)
    }

    private mutating func spawn(_ selection: PeerSelection, step: Step, index: Int) {
        switch selection {
        case .all:
            let waiting = (1...max(1, scenario.peerCount)).map(PeerName.init(index:)).filter {
                $0.index <= scenario.peerCount && states[$0] == nil
            }
            if waiting.isEmpty { problem("every declared peer was spawned already", step) }
            for name in waiting { start(name, at: step.at, index: index) }
        case .count(let count):
            guard nextIndex + count - 1 <= PeerName.maximumIndex else {
                problem(
                    "spawning \(count) more peers would pass peer-\(PeerName.maximumIndex), the highest peer number",
                    step)
                return
            }
            for _ in 0..<count {
                start(PeerName(index: nextIndex), at: step.at, index: index)
                nextIndex += 1
            }
        case .named(let names):
            for name in names {
                guard isKnown(name) else {
                    problem("unknown peer \(name): the scenario declares peer-1 ... peer-\(scenario.peerCount)", step)
                    continue
                }
                switch states[name] {
                case .running?, .paused?: problem("\(name) is already running at \(step.at.text)", step)
                default: start(name, at: step.at, index: index)
                }
            }
        }
    }

    private mutating func apply(_ selection: PeerSelection, step: Step, index: Int, verb: String) {
        let targets: [PeerName]
        switch selection {
        case .all:
            targets = states.keys.sorted().filter { name in
                switch states[name] {
                case .running?: verb != "resume"
                case .paused?: verb != "pause"
                default: false
                }
            }
            if targets.isEmpty { problem("no peer to \(verb) at \(step.at.text)", step) }
        case .named(let names): targets = names
        case .count: targets = []
        }
        for name in targets {
            guard isKnown(name) else {
                problem("unknown peer \(name): the scenario declares peer-1 ... peer-\(scenario.peerCount)", step)
                continue
            }
            switch (verb, states[name]) {
            case ("leave", .running?), ("leave", .paused?):
                states[name] = .ended(how: "it left", at: step.at)
                append(.leave(name), at: step.at, index: index)
            case ("crash", .running?), ("crash", .paused?):
                states[name] = .ended(how: "it crashed", at: step.at)
                append(.crash(name), at: step.at, index: index)
            case ("pause", .running?):
                states[name] = .paused
                append(.pause(name), at: step.at, index: index)
            case ("pause", .paused?):
                problem("\(name) is already paused at \(step.at.text)", step)
            case ("resume", .paused?):
                states[name] = .running
                append(.resume(name), at: step.at, index: index)
            case ("resume", .running?):
                problem("\(name) is not paused at \(step.at.text)", step)
            default:
                problem(whyNot(name, at: step.at), step)
            }
        }
    }

    /// Draws churn's schedule now (it depends only on the seed, the step and the peers running
    /// at its start) and queues it; actions are applied as later steps pass their time.
    private mutating func churn(_ spec: ChurnSpec, step: Step, index: Int) {
        for name in spec.exclude where !isKnown(name) {
            problem("unknown peer \(name) in exclude", step)
        }
        let governed = states.keys.sorted().filter { name in
            guard !spec.exclude.contains(name) else { return false }
            switch states[name] {
            case .running?, .paused?: return true
            default: return false
            }
        }
        var generator = SeededGenerator(seed: seed).derived("churn/step-\(index)")
        var queued: [(PlannedAction, Int)] = []
        func departure(_ name: PeerName, after start: Double, generator: inout SeededGenerator) {
            let session = spec.session.sample(using: &generator)
            let crashes = generator.nextUnitInterval() < spec.crashFraction
            let leaveAt = start + session
            guard leaveAt < spec.duration.inSeconds else { return }
            let kind: PlannedAction.Kind = crashes ? .crash(name) : .leave(name)
            queued.append(
                (PlannedAction(at: step.at + .seconds(leaveAt), kind: kind, stepIndex: index, fromChurn: true), 0))
        }
        for name in governed { departure(name, after: 0, generator: &generator) }
        let rate = spec.arrivalRate ?? (governed.isEmpty ? 0 : Double(governed.count) / spec.session.mean)
        if rate > 0 {
            var time = 0.0
            while true {
                time += Distribution.exponential(mean: 1 / rate).sample(using: &generator)
                guard time < spec.duration.inSeconds else { break }
                guard nextIndex <= PeerName.maximumIndex else {
                    problem(
                        "churn would start more peers than peer numbers go (peer-\(PeerName.maximumIndex)); lower arrival-rate",
                        step)
                    return
                }
                let name = PeerName(index: nextIndex)
                nextIndex += 1
                queued.append(
                    (
                        PlannedAction(
                            at: step.at + .seconds(time), kind: .spawn(name), stepIndex: index, fromChurn: true), 0
                    ))
                departure(name, after: time, generator: &generator)
            }
        }
        for (action, _) in queued.sorted(by: { $0.0.at < $1.0.at }) {
            pendingChurn.append((action, order))
            order += 1
        }
        end = max(end, step.at + spec.duration)
    }

    /// Applies queued churn actions up to `time`, in time order. An action whose peer an
    /// explicit step already removed is dropped.
    private mutating func applyChurn(upTo time: Duration) {
        pendingChurn.sort { ($0.action.at, $0.order) < ($1.action.at, $1.order) }
        while let first = pendingChurn.first, first.action.at <= time {
            pendingChurn.removeFirst()
            let action = first.action
            switch action.kind {
            case .spawn(let name):
                if states[name] == nil { everSpawned.append(name) }
                states[name] = .running
            case .leave(let name), .crash(let name):
                switch states[name] {
                case .running?, .paused?:
                    let how = if case .crash = action.kind { "churn crashed it" } else { "churn made it leave" }
                    states[name] = .ended(how: how, at: action.at, byChurn: true)
                default: continue
                }
            default: break
            }
            actions.append((action, first.order))
        }
    }
}

extension PlannedAction: CustomStringConvertible {
    /// `  12.340s  crash peer-7  (churn)`
    public var description: String {
        let seconds = at.inSeconds
        let whole = Int64(seconds)
        let millis = Int64(((seconds - Double(whole)) * 1000).rounded())
        let time =
            "\(whole + millis / 1000).\(String(repeating: "0", count: 3 - String(millis % 1000).count))\(millis % 1000)s"
        let padded = String(repeating: " ", count: max(0, 10 - time.count)) + time
        let what: String
        switch kind {
        case .spawn(let name): what = "spawn \(name)"
        case .leave(let name): what = "leave \(name)"
        case .crash(let name): what = "crash \(name)"
        case .hostFault(let fault): what = fault.summary
        case .pause(let name): what = "pause \(name)"
        case .resume(let name): what = "resume \(name)"
        case .waitReady(let timeout): what = "wait until ready (at most \(timeout.text))"
        case .stop: what = "stop"
        case .link(let peer, let profile, let direction): what = "link \(peer) \(direction.rawValue) \(profile)"
        case .partition(let groups):
            what =
                "partition "
                + groups.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" }.joined(separator: " ")
        case .heal: what = "heal"
        case .join(let names, let via):
            what = "join " + names.map(\.description).joined(separator: ", ") + (via.map { " via \($0)" } ?? "")
        case .lookups(let count, let rate, let from):
            what =
                "\(count) lookups at \(rate)/s from "
                + (from?.map(\.description).joined(separator: ", ") ?? "all members")
        case .register(let peer, let service, let lease): what = "register \(service) at \(peer) (lease \(lease.text))"
        case .resolve(let peer, let service): what = "resolve \(service) from \(peer)"
        case .deploy(let peer, let service, let kind, let replicas):
            what = "deploy \(service) (\(kind)) on \(peer)" + (replicas > 0 ? " with \(replicas) replicas" : "")
        case .migrate(let service, let target): what = "migrate \(service) to \(target)"
        case .client(let peer, let spec):
            let parameters = spec.parameters.sorted { $0.key < $1.key }.map { key, value in
                switch value {
                case .text(let text): " \(key) \(text)"
                case .number(let number): " \(key) \(number)"
                }
            }
            what = "\(peer) joins \(spec.service) (\(spec.kind))" + parameters.joined()
        }
        return "\(padded)  \(what)" + (fromChurn ? "  (churn)" : "")
    }
}

extension HostFault {
    /// `crash the host of voice at its next sync`, `pause a standby of voice`.
    public var summary: String {
        "\(action.rawValue) \(replica ? "a standby" : "the host") of \(service)"
            + (atPhase.map {
                Self.failoverPhases.contains($0) ? " as its next failover reaches \($0)" : " at its next \($0)"
            }
                ?? "")
    }
}
