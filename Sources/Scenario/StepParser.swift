import OverlayCore
import Yams

extension ScenarioReader {
    /// One timeline entry: a mapping with `at` and exactly one action key. Returns the step
    /// and the node of its time (for ordering diagnostics), or nil after reporting why not.
    mutating func step(from node: Node) -> (Step, Node)? {
        guard let mapping = node.mapping else {
            error("a step is a mapping like 'at: 5s' plus one action", at: node)
            return nil
        }
        var atNode: Node?
        var actions: [(key: Node, value: Node)] = []
        for (key, value) in mapping {
            let name = key.scalar?.string ?? ""
            if name == "at" {
                atNode = value
            } else if Self.actionKeys.contains(name) {
                actions.append((key, value))
            } else {
                error("unknown step '\(name)' (expected one of: \(Self.actionKeys.joined(separator: ", ")))", at: key)
                return nil
            }
        }
        guard let atNode else {
            error("step has no 'at' time", at: node)
            return nil
        }
        guard let action = actions.first else {
            error("step has no action (expected one of: \(Self.actionKeys.joined(separator: ", ")))", at: node)
            return nil
        }
        guard actions.count == 1 else {
            error(
                "a step has one action; this one has \(actions.map { $0.key.scalar?.string ?? "?" }.joined(separator: ", "))",
                at: actions[1].key)
            return nil
        }
        guard let at = duration(atNode) else { return nil }
        let verb = action.key.scalar?.string ?? ""
        let value = action.value
        let parsed: StepAction?
        // `leave`, `crash` or `pause` of `{host-of: SERVICE}` or `{replica-of: SERVICE}`.
        let aimedAtHost =
            value.mapping?.contains { ["host-of", "replica-of"].contains($0.key.scalar?.string) } == true
            ? HostFault.Action(rawValue: verb) : nil
        switch verb {
        case "spawn": parsed = selection(value, verb: verb, allowsCount: true).map(StepAction.spawn)
        case _ where aimedAtHost != nil:
            parsed = aimedAtHost.flatMap { hostFault(value, action: $0) }.map(StepAction.hostFault)
        case "leave": parsed = selection(value, verb: verb).map(StepAction.leave)
        case "crash": parsed = selection(value, verb: verb).map(StepAction.crash)
        case "pause": parsed = selection(value, verb: verb).map(StepAction.pause)
        case "resume": parsed = selection(value, verb: verb).map(StepAction.resume)
        case "churn": parsed = churn(value).map(StepAction.churn)
        case "wait": parsed = wait(value)
        case "link":
            linkUses.append(action.key)
            parsed = link(value)
        case "partition":
            linkUses.append(action.key)
            parsed = partition(value)
        case "join": parsed = join(value)
        case "lookups": parsed = lookups(value)
        case "register", "resolve": parsed = registry(value, verb: verb)
        case "deploy": parsed = deploy(value)
        case "migrate": parsed = migrate(value)
        case "clients": parsed = clients(value).map(StepAction.clients)
        case "heal":
            linkUses.append(action.key)
            parsed = isEmptyValue(value) ? .heal : nil
            if parsed == nil { error("heal takes no value", at: value) }
        default:  // stop
            let isEmpty =
                value.scalar.map { ["", "~", "null", "true"].contains($0.string) } ?? (value.mapping?.isEmpty ?? false)
            if !isEmpty { error("stop takes no value", at: value) }
            parsed = isEmpty ? .stop : nil
        }
        guard let parsed else { return nil }
        return (Step(at: at, action: parsed, position: position(value)), atNode)
    }

    /// `stop:`, `stop: {}`, `stop: true`.
    func isEmptyValue(_ value: Node) -> Bool {
        value.scalar.map { ["", "~", "null", "true"].contains($0.string) } ?? (value.mapping?.isEmpty ?? false)
    }

    /// `link: {peer: peer-2, profile: lossy, direction: up}` (direction defaults to both).
    mutating func link(_ node: Node) -> StepAction? {
        guard let mapping = node.mapping else {
            error("link takes {peer: peer-N, profile: NAME, direction: up|down|both}", at: node)
            return nil
        }
        var peer: PeerName?
        var profile: String?
        var direction = LinkDirection.both
        var reported = false  // a peer or profile already diagnosed is not "missing" too
        for (key, value) in mapping {
            switch key.scalar?.string {
            case "peer":
                peer = peerName(value)
                reported = reported || peer == nil
            case "profile":
                profile = profileName(value)
                reported = reported || profile == nil
            case "direction":
                guard let parsed = value.scalar.flatMap({ LinkDirection(rawValue: $0.string) }) else {
                    error("direction must be up, down or both", at: value)
                    return nil
                }
                direction = parsed
            default:
                error("unknown key '\(key.scalar?.string ?? "?")' in link (expected peer, profile, direction)", at: key)
                return nil
            }
        }
        guard let peer, let profile else {
            if !reported { error("link needs a peer and a profile", at: node) }
            return nil
        }
        return .link(peer: peer, profile: profile, direction: direction)
    }

    /// `join: all`, `join: [peer-1, peer-2]`, `join: {peers: all, via: peer-1}`.
    mutating func join(_ node: Node) -> StepAction? {
        guard let mapping = node.mapping else { return selection(node, verb: "join").map { .join($0, via: nil) } }
        var peers = PeerSelection.all
        var via: PeerName?
        for (key, value) in mapping {
            switch key.scalar?.string {
            case "peers":
                guard let parsed = selection(value, verb: "join") else { return nil }
                peers = parsed
            case "via":
                guard let name = peerName(value) else { return nil }
                via = name
            default:
                error("unknown key '\(key.scalar?.string ?? "?")' in join (expected peers, via)", at: key)
                return nil
            }
        }
        return .join(peers, via: via)
    }

    /// `lookups: {count: 200, rate: 20, from: all}` (rate per second; from defaults to all).
    mutating func lookups(_ node: Node) -> StepAction? {
        guard let mapping = node.mapping else {
            error("lookups takes {count: N, rate: PER_SECOND, from: all|peers}", at: node)
            return nil
        }
        var count: Int?
        var rate: Double?
        var from = PeerSelection.all
        for (key, value) in mapping {
            switch key.scalar?.string {
            case "count":
                guard let parsed = value.scalar.flatMap({ Self.wholeNumber($0.string) }),
                    (1...1_000_000).contains(parsed)
                else {
                    error("count must be a whole number from 1 to 1000000", at: value)
                    return nil
                }
                count = parsed
            case "rate":
                guard let parsed = value.scalar.flatMap({ Double($0.string) }), parsed > 0, parsed <= 10_000 else {
                    error("rate is lookups per second, more than 0 and at most 10000", at: value)
                    return nil
                }
                rate = parsed
            case "from":
                guard let parsed = selection(value, verb: "lookups from") else { return nil }
                from = parsed
            default:
                error("unknown key '\(key.scalar?.string ?? "?")' in lookups (expected count, rate, from)", at: key)
                return nil
            }
        }
        guard let count, let rate else {
            error("lookups needs a count and a rate", at: node)
            return nil
        }
        return .lookups(count: count, rate: rate, from: from)
    }

    /// `register: {peer: peer-3, service: voice, lease: 30s}` and `resolve: {peer: peer-5,
    /// service: voice}`.
    mutating func registry(_ node: Node, verb: String) -> StepAction? {
        guard let mapping = node.mapping else {
            error("\(verb) takes {peer: peer-N, service: NAME\(verb == "register" ? ", lease: 30s" : "")}", at: node)
            return nil
        }
        var peer: PeerName?
        var service: String?
        var lease: Duration = .seconds(30)
        for (key, value) in mapping {
            switch key.scalar?.string {
            case "peer":
                guard let name = peerName(value) else { return nil }
                peer = name
            case "service":
                guard let name = serviceName(value) else { return nil }
                service = name
            case "lease" where verb == "register":
                guard let parsed = duration(value) else { return nil }
                guard parsed >= .seconds(1), parsed <= WireBounds.lease else {
                    error("a lease lasts from 1s to \(WireBounds.lease.components.seconds)s", at: value)
                    return nil
                }
                lease = parsed
            default:
                let keys = verb == "register" ? "peer, service, lease" : "peer, service"
                error("unknown key '\(key.scalar?.string ?? "?")' in \(verb) (expected \(keys))", at: key)
                return nil
            }
        }
        guard let peer, let service else {
            error("\(verb) needs a peer and a service", at: node)
            return nil
        }
        return verb == "register"
            ? .register(peer: peer, service: service, lease: lease) : .resolve(peer: peer, service: service)
    }

    /// A service name: text of 1 to 200 bytes.
    mutating func serviceName(_ node: Node) -> String? {
        guard let name = node.scalar?.string, !name.isEmpty, name.utf8.count <= 200 else {
            error("a service name is text of 1 to 200 bytes", at: node)
            return nil
        }
        return name
    }

    /// `crash: {host-of: voice}`, `crash: {host-of: voice, at-phase: sync}`, the same for
    /// `pause`, and `leave: {host-of: voice}`; `replica-of` instead of `host-of` aims at one of
    /// the service's hot standbys (its `at-phase` a failover's: a standby has no migration
    /// phases).
    mutating func hostFault(_ node: Node, action: HostFault.Action) -> HostFault? {
        var fault = HostFault(action: action, service: "")
        guard let mapping = node.mapping else { return nil }
        for (key, value) in mapping {
            switch key.scalar?.string {
            case "host-of", "replica-of":
                guard fault.service.isEmpty else {
                    error("a fault takes one of host-of and replica-of", at: key)
                    return nil
                }
                guard let name = serviceName(value) else { return nil }
                fault.service = name
                fault.replica = key.scalar?.string == "replica-of"
            case "at-phase" where action != .leave:
                guard let phase = value.scalar?.string,
                    HostFault.phases.contains(phase) || HostFault.failoverPhases.contains(phase)
                else {
                    error(
                        "unknown phase '\(value.scalar?.string ?? "?")' (a source's phases: \(HostFault.phases.joined(separator: ", "));"
                            + " a failover's: \(HostFault.failoverPhases.joined(separator: ", ")))",
                        at: value)
                    return nil
                }
                fault.atPhase = phase
            default:
                let keys = action == .leave ? "host-of or replica-of" : "host-of or replica-of, at-phase"
                error("unknown key '\(key.scalar?.string ?? "?")' in \(action.rawValue) (expected \(keys))", at: key)
                return nil
            }
        }
        if fault.replica, let phase = fault.atPhase, !HostFault.failoverPhases.contains(phase) {
            error(
                "a standby has no migration phases: replica-of takes a failover's (\(HostFault.failoverPhases.joined(separator: ", ")))",
                at: node)
            return nil
        }
        return fault
    }

    /// `deploy: {peer: peer-1, service: voice, kind: voice-relay}`, and `replicas: K` for K hot
    /// standbys (0 to 8; 0 when absent).
    mutating func deploy(_ node: Node) -> StepAction? {
        guard let mapping = node.mapping else {
            error("deploy takes {peer: peer-N, service: NAME, kind: KIND}", at: node)
            return nil
        }
        var peer: PeerName?
        var service: String?
        var kind: String?
        var replicas = 0
        for (key, value) in mapping {
            switch key.scalar?.string {
            case "peer":
                guard let name = peerName(value) else { return nil }
                peer = name
            case "service":
                guard let name = serviceName(value) else { return nil }
                service = name
            case "kind":
                guard let name = value.scalar?.string, ServiceKinds.known.contains(name) else {
                    error(
                        "unknown service kind '\(value.scalar?.string ?? "?")' (known: \(ServiceKinds.known.joined(separator: ", ")))",
                        at: value)
                    return nil
                }
                kind = name
            case "replicas":
                guard let text = value.scalar?.string, let count = ScenarioReader.wholeNumber(text),
                    count <= StepAction.maximumReplicas
                else {
                    error("replicas is a whole number from 0 to \(StepAction.maximumReplicas)", at: value)
                    return nil
                }
                replicas = count
            default:
                error(
                    "unknown key '\(key.scalar?.string ?? "?")' in deploy (expected peer, service, kind, replicas)",
                    at: key)
                return nil
            }
        }
        guard let peer, let service, let kind else {
            error("deploy needs a peer, a service and a kind", at: node)
            return nil
        }
        deployedKinds[service] = kind
        return .deploy(peer: peer, service: service, kind: kind, replicas: replicas)
    }

    /// `migrate: {service: voice, to: peer-5}`.
    mutating func migrate(_ node: Node) -> StepAction? {
        guard let mapping = node.mapping else {
            error("migrate takes {service: NAME, to: peer-N}", at: node)
            return nil
        }
        var service: String?
        var target: PeerName?
        for (key, value) in mapping {
            switch key.scalar?.string {
            case "service":
                guard let name = serviceName(value) else { return nil }
                service = name
            case "to":
                guard let name = peerName(value) else { return nil }
                target = name
            default:
                error("unknown key '\(key.scalar?.string ?? "?")' in migrate (expected service, to)", at: key)
                return nil
            }
        }
        guard let service, let target else {
            error("migrate needs a service and a peer to move it to", at: node)
            return nil
        }
        return .migrate(service: service, to: target)
    }

    /// `clients: {service: voice, peers: [peer-2, peer-3], speak: Testbed/audio/reference.wav,
    /// from: 8s, for: 8s}`: `service` and `peers`, then the parameters of the service's kind
    /// (`ServiceKinds.clientParameters`), each checked against its syntax.
    mutating func clients(_ node: Node) -> ClientsStep? {
        guard let mapping = node.mapping else {
            error("clients takes {service: NAME, peers: all|peers, ...the kind's parameters}", at: node)
            return nil
        }
        guard let serviceNode = mapping.first(where: { $0.key.scalar?.string == "service" })?.value,
            let service = serviceName(serviceNode)
        else {
            error("clients needs a service", at: node)
            return nil
        }
        guard let kind = deployedKinds[service], let syntax = ServiceKinds.clientParameters[kind] else {
            error("no deploy step before this one starts '\(service)': its kind is unknown", at: serviceNode)
            return nil
        }
        var peers: PeerSelection?
        var parameters: [String: ClientParameter.Value] = [:]
        var given: [String: Node] = [:]
        for (key, value) in mapping {
            let name = key.scalar?.string ?? "?"
            switch name {
            case "service": continue
            case "peers":
                guard let parsed = selection(value, verb: "clients") else { return nil }
                peers = parsed
            default:
                guard let parameter = syntax.first(where: { $0.name == name }) else {
                    let expected = (["service", "peers"] + syntax.map(\.name)).joined(separator: ", ")
                    error("unknown key '\(name)' in clients of a \(kind) (expected \(expected))", at: key)
                    return nil
                }
                guard let parsed = clientParameter(value, parameter) else { return nil }
                parameters[name] = parsed
                given[name] = key
            }
        }
        guard let peers else {
            error("clients needs peers", at: node)
            return nil
        }
        for parameter in syntax {
            if let requires = parameter.requires, let key = given[parameter.name], given[requires] == nil {
                error("\(parameter.name) is given only with \(requires)", at: key)
                return nil
            }
        }
        return ClientsStep(service: service, kind: kind, peers: peers, parameters: parameters)
    }

    /// A value for `parameter`, or nil after saying why not.
    mutating func clientParameter(_ value: Node, _ parameter: ClientParameter) -> ClientParameter.Value? {
        switch parameter.syntax {
        case .file(let suffix):
            guard let path = value.scalar?.string, path.hasSuffix(suffix), !path.hasPrefix("/") else {
                error("\(parameter.name) names a \(suffix) file relative to the repository root", at: value)
                return nil
            }
            return .text(path)
        case .duration(let minimum):
            guard let parsed = duration(value) else { return nil }
            guard parsed >= minimum else {
                error("\(parameter.name) is at least \(minimum.text)", at: value)
                return nil
            }
            return .number(parsed.inSeconds)
        case .wholeNumber(let range):
            guard let number = value.scalar.flatMap({ Self.wholeNumber($0.string) }), range.contains(number) else {
                error(
                    "\(parameter.name) is a whole number from \(range.lowerBound) to \(range.upperBound)", at: value)
                return nil
            }
            return .number(Double(number))
        case .choice(let choices):
            guard let text = value.scalar?.string, choices.contains(text) else {
                error("\(parameter.name) is one of \(choices.joined(separator: ", "))", at: value)
                return nil
            }
            return .text(text)
        }
    }

    /// `partition: [[peer-1, peer-2], [peer-3]]`: at least two groups, no peer in two.
    mutating func partition(_ node: Node) -> StepAction? {
        guard let groups = node.sequence, groups.count >= 2 else {
            error("partition takes two or more groups of peers: [[peer-1, peer-2], [peer-3]]", at: node)
            return nil
        }
        var result: [[PeerName]] = []
        var seen: Set<PeerName> = []
        for group in groups {
            guard let members = group.sequence, !members.isEmpty else {
                error("a partition group is a non-empty list of peers", at: group)
                return nil
            }
            var names: [PeerName] = []
            for member in members {
                guard let name = peerName(member) else { return nil }
                guard seen.insert(name).inserted else {
                    error("\(name) is in two partition groups", at: member)
                    return nil
                }
                names.append(name)
            }
            result.append(names)
        }
        return .partition(result)
    }

    /// `250ms`, `5s`, `1.5m`, `2h`.
    mutating func duration(_ node: Node) -> Duration? {
        let text = node.scalar?.string ?? ""
        if let parsed = Self.parseDuration(text) { return parsed }
        error("bad duration '\(text)': use a number and a unit (250ms, 5s, 2m)", at: node)
        return nil
    }

    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        for (unit, scale) in units where text.hasSuffix(unit) {
            let number = text.dropLast(unit.count)
            let isDecimal =
                !number.isEmpty && number.first != "." && number.last != "."
                && number.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }
                && number.filter { $0 == "." }.count <= 1
            guard isDecimal, let value = Double(number), value.isFinite, value * scale < 1e9 else { return nil }
            return .nanoseconds(Int64((value * scale * 1e9).rounded()))
        }
        return nil
    }

    mutating func peerName(_ node: Node) -> PeerName? {
        if let name = node.scalar.flatMap({ PeerName($0.string) }) { return name }
        error("'\(node.scalar?.string ?? "?")' is not a peer name (peer-1, peer-2, ...)", at: node)
        return nil
    }

    /// `all`, `peer-3`, `[peer-1, peer-2]`, and for spawn `{count: N}`.
    mutating func selection(_ node: Node, verb: String, allowsCount: Bool = false) -> PeerSelection? {
        if let scalar = node.scalar {
            if scalar.string == "all" { return .all }
            return peerName(node).map { .named([$0]) }
        }
        if let sequence = node.sequence {
            guard !sequence.isEmpty else {
                error("\(verb) needs at least one peer", at: node)
                return nil
            }
            var names: [PeerName] = []
            for item in sequence {
                guard let name = peerName(item) else { return nil }
                names.append(name)
            }
            return .named(names)
        }
        if allowsCount, let mapping = node.mapping, mapping.count == 1, let (key, value) = mapping.first,
            key.scalar?.string == "count"
        {
            if let count = value.scalar.flatMap({ Self.wholeNumber($0.string) }), (1...65000).contains(count) {
                return .count(count)
            }
            error("count must be a whole number from 1 to 65000", at: value)
            return nil
        }
        error("\(verb) takes all, a peer name or a list of them\(allowsCount ? ", or {count: N}" : "")", at: node)
        return nil
    }

    /// `wait: ready` or `wait: {until: ready, timeout: 20s}`.
    mutating func wait(_ node: Node) -> StepAction? {
        var conditionNode: Node? = node
        var timeout: Duration = .seconds(30)
        if let mapping = node.mapping {
            conditionNode = nil
            for (key, value) in mapping {
                switch key.scalar?.string {
                case "until": conditionNode = value
                case "timeout":
                    guard let parsed = duration(value) else { return nil }
                    guard parsed > .zero else {
                        error("a wait timeout must be more than 0s", at: value)
                        return nil
                    }
                    timeout = parsed
                default:
                    error("unknown key '\(key.scalar?.string ?? "?")' in wait (expected until, timeout)", at: key)
                    return nil
                }
            }
        }
        guard let condition = conditionNode?.scalar.flatMap({ WaitCondition(rawValue: $0.string) }) else {
            error("wait understands 'ready' (every running peer has reported ready)", at: conditionNode ?? node)
            return nil
        }
        return .wait(condition, timeout: timeout)
    }

    mutating func churn(_ node: Node) -> ChurnSpec? {
        guard let mapping = node.mapping else {
            error("churn takes duration, session, and optionally arrival-rate, crash-fraction, exclude", at: node)
            return nil
        }
        var duration: Duration?
        var session: Distribution?
        var arrivalRate: Double?
        var crashFraction = 0.0
        var exclude: [PeerName] = []
        var ok = true
        for (key, value) in mapping {
            switch key.scalar?.string {
            case "duration":
                duration = self.duration(value)
                if let d = duration, d <= .zero {
                    error("churn duration must be more than 0s", at: value)
                    ok = false
                }
            case "session": session = distribution(value)
            case "arrival-rate":
                if let rate = value.scalar.flatMap({ Double($0.string) }), rate >= 0, rate <= 10_000 {
                    arrivalRate = rate
                } else {
                    error("arrival-rate is arrivals per second, a number from 0 to 10000", at: value)
                    ok = false
                }
            case "crash-fraction":
                if let fraction = value.scalar.flatMap({ Double($0.string) }), (0...1).contains(fraction) {
                    crashFraction = fraction
                } else {
                    error("crash-fraction must be a number from 0 to 1", at: value)
                    ok = false
                }
            case "exclude":
                switch selection(value, verb: "exclude") {
                case .named(let names): exclude = names
                case .all:
                    error("exclude lists peers; 'all' would leave nothing to churn", at: value)
                    ok = false
                default: ok = false
                }
            default:
                error(
                    "unknown key '\(key.scalar?.string ?? "?")' in churn (expected duration, session, arrival-rate, crash-fraction, exclude)",
                    at: key)
                ok = false
            }
        }
        if duration == nil, !mapping.keys.contains(where: { $0.scalar?.string == "duration" }) {
            error("churn needs a duration", at: node)
        }
        if session == nil, !mapping.keys.contains(where: { $0.scalar?.string == "session" }) {
            error("churn needs a session distribution", at: node)
        }
        guard ok, let duration, let session else { return nil }
        return ChurnSpec(
            duration: duration, session: session, arrivalRate: arrivalRate, crashFraction: crashFraction,
            exclude: exclude)
    }

    /// `{distribution: weibull, shape: 0.6, mean: 20s}` (times in the distribution are durations).
    mutating func distribution(_ node: Node) -> Distribution? {
        guard let mapping = node.mapping else {
            error("session is {distribution: exponential|weibull|pareto, mean: 20s, shape: N}", at: node)
            return nil
        }
        var kind: (String, Node)?
        var mean: Double?
        var shape: (Double, Node)?
        for (key, value) in mapping {
            switch key.scalar?.string {
            case "distribution": kind = (value.scalar?.string ?? "", value)
            case "mean":
                guard let parsed = duration(value) else { return nil }
                guard parsed > .zero else {
                    error("mean session time must be more than 0s", at: value)
                    return nil
                }
                mean = parsed.inSeconds
            case "shape":
                guard let parsed = value.scalar.flatMap({ Double($0.string) }), parsed > 0, parsed.isFinite else {
                    error("shape must be a number above 0", at: value)
                    return nil
                }
                shape = (parsed, value)
            default:
                error(
                    "unknown key '\(key.scalar?.string ?? "?")' in session (expected distribution, mean, shape)",
                    at: key)
                return nil
            }
        }
        guard let kind else {
            error("session needs a distribution: exponential, weibull or pareto", at: node)
            return nil
        }
        guard let mean else {
            error("session needs a mean (for example 20s)", at: node)
            return nil
        }
        switch kind.0 {
        case "exponential":
            if let shape { error("exponential has no shape", at: shape.1) }
            return shape == nil ? .exponential(mean: mean) : nil
        case "weibull":
            guard let shape else {
                error("weibull needs a shape (0.5 to 0.7 fit measured session times)", at: node)
                return nil
            }
            return .weibull(shape: shape.0, mean: mean)
        case "pareto":
            guard let shape, shape.0 > 1 else {
                error("pareto needs a shape above 1 (its mean is infinite otherwise)", at: shape?.1 ?? node)
                return nil
            }
            return .pareto(shape: shape.0, mean: mean)
        default:
            error("unknown distribution '\(kind.0)' (expected exponential, weibull or pareto)", at: kind.1)
            return nil
        }
    }
}
