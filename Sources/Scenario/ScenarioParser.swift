import OverlayCore
import Yams

extension Scenario {
    /// Parses and validates the YAML `text` of the scenario file `file` (the name used in
    /// diagnostics). Validation includes expanding the timeline with the scenario's own seed,
    /// so a step that names a peer which is not running at that time is reported here.
    /// Every problem found is reported, in file order, not just the first.
    /// `profiles` are the link profiles found for it; naming any other one is an error.
    public static func parse(
        _ text: String, file: String, profiles: ProfileCatalogue = ProfileCatalogue()
    ) throws(Diagnostics) -> Scenario {
        var reader = ScenarioReader(file: file)
        reader.profiles = profiles
        let root = try YAMLSource.compose(text, file: file)
        let scenario = reader.scenario(from: root)
        if let scenario, reader.diagnostics.isEmpty {
            do throws(Diagnostics) {
                _ = try scenario.plan()
            } catch {
                reader.diagnostics += error.items
            }
        }
        guard let scenario, reader.diagnostics.isEmpty else {
            throw Diagnostics(
                reader.diagnostics.sorted {
                    ($0.position.line, $0.position.column) < ($1.position.line, $1.position.column)
                })
        }
        return scenario
    }
}

/// Builds a `Scenario` from YAML nodes, keeping every node's position for diagnostics.
struct ScenarioReader {
    let file: String
    var diagnostics: [Diagnostic] = []
    /// The link profiles that exist.
    var profiles = ProfileCatalogue()
    /// Where link profiles are used (for the error when the mode has no links).
    var linkUses: [Node] = []
    /// The kind of each service a deploy step so far started.
    var deployedKinds: [String: String] = [:]

    static let topLevelKeys = ["name", "description", "mode", "seed", "peers", "links", "dht", "timeline", "expect"]
    static let actionKeys = [
        "spawn", "leave", "crash", "pause", "resume", "churn", "wait", "stop", "link", "partition", "heal", "join",
        "lookups", "register", "resolve", "deploy", "migrate", "clients",
    ]

    func position(_ node: Node?) -> SourcePosition {
        SourcePosition(file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1)
    }

    mutating func error(_ message: String, at node: Node?) {
        diagnostics.append(Diagnostic(message, at: position(node)))
    }

    func diagnostic(forYAMLError error: any Error) -> Diagnostic {
        switch error as? YamlError {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return Diagnostic("YAML: \(problem)", at: SourcePosition(file: file, line: mark.line, column: mark.column))
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(
                "YAML: duplicated key \(duplicates.joined(separator: ", "))",
                at: SourcePosition(file: file, line: context.mark.line, column: context.mark.column))
        default:
            return Diagnostic("YAML: \(error)", at: SourcePosition(file: file, line: 1, column: 1))
        }
    }

    mutating func scenario(from root: Node?) -> Scenario? {
        guard let root, let mapping = root.mapping else {
            error("a scenario is a mapping with name, peers and timeline", at: root)
            return nil
        }
        var values: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string, Self.topLevelKeys.contains(name) else {
                error(
                    "unknown key '\(key.scalar?.string ?? "?")' (expected one of: \(Self.topLevelKeys.joined(separator: ", ")))",
                    at: key)
                continue
            }
            values[name] = (key, value)
        }

        var name = ""
        if let node = values["name"]?.value {
            name = node.scalar?.string ?? ""
            let allowed = name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || "._-".unicodeScalars.contains($0)
            }
            if name.isEmpty || !allowed {
                error("name must be letters, digits, '.', '_' or '-' (it names the run folder)", at: node)
            }
        } else {
            error("missing 'name'", at: root)
        }

        var mode = LaunchMode.loopback
        if let node = values["mode"]?.value {
            if let parsed = node.scalar.flatMap({ LaunchMode(rawValue: $0.string) }) {
                mode = parsed
            } else {
                error("mode must be loopback or netns, not '\(node.scalar?.string ?? "?")'", at: node)
            }
        }

        var seed: UInt64 = 1
        if let node = values["seed"]?.value {
            if let parsed = node.scalar.flatMap({ UInt64($0.string) }) {
                seed = parsed
            } else {
                error("seed must be a whole number from 0 to \(UInt64.max)", at: node)
            }
        }

        var peerCount = 0
        var links = LinkAssignments()
        if let node = values["peers"]?.value {
            var countNode: Node? = node
            if let peers = node.mapping {
                countNode = nil
                for (key, value) in peers {
                    if key.scalar?.string == "count" {
                        countNode = value
                    } else if key.scalar?.string == "profile" {
                        links.everyPeer = profileName(value)
                        linkUses.append(key)
                    } else {
                        error("unknown key '\(key.scalar?.string ?? "?")' in peers (expected count, profile)", at: key)
                    }
                }
            }
            if let count = countNode?.scalar.flatMap({ ScenarioReader.wholeNumber($0.string) }),
                (1...65000).contains(count)
            {
                peerCount = count
            } else {
                error("peers must be a whole number from 1 to 65000 (or {count: N})", at: countNode ?? node)
            }
        } else {
            error("missing 'peers'", at: root)
        }

        if let (key, node) = values["links"] {
            linkUses.append(key)
            if let mapping = node.mapping {
                for (peerNode, value) in mapping {
                    guard let peer = peerName(peerNode) else { continue }
                    if value.scalar != nil {
                        if let name = profileName(value) { links.peers[peer] = .init(up: name, down: name) }
                    } else if let pair = value.mapping {
                        var up: String?
                        var down: String?
                        for (direction, profile) in pair {
                            switch direction.scalar?.string {
                            case "up": up = profileName(profile)
                            case "down": down = profileName(profile)
                            default: error("a link has an up and a down direction", at: direction)
                            }
                        }
                        let fallback = links.everyPeer ?? ""
                        if up != nil || down != nil {
                            links.peers[peer] = .init(up: up ?? fallback, down: down ?? fallback)
                        }
                    } else {
                        error("a peer's link is a profile name or {up: NAME, down: NAME}", at: value)
                    }
                }
            } else {
                error("links maps peers to profiles: {peer-2: mobile, peer-3: {up: lossy, down: wan}}", at: node)
            }
        }

        var steps: [Step] = []
        if let node = values["timeline"]?.value {
            if let sequence = node.sequence {
                var previous: (Duration, Node)?
                var stopped: Node?
                for item in sequence {
                    guard let (step, atNode) = self.step(from: item) else { continue }
                    if let (time, _) = previous, step.at < time {
                        error("time goes backwards: \(step.at.text) comes after \(time.text)", at: atNode)
                    }
                    if stopped != nil {
                        error("a step after 'stop' never runs", at: item)
                    }
                    if case .stop = step.action { stopped = item }
                    previous = (step.at, atNode)
                    steps.append(step)
                }
            } else {
                error("timeline must be a list of steps", at: node)
            }
        } else {
            error("missing 'timeline'", at: root)
        }

        var expectations: [ReportExpectation] = []
        if let node = values["expect"]?.value {
            if let sequence = node.sequence {
                for item in sequence {
                    if let expectation = self.expectation(from: item) { expectations.append(expectation) }
                }
            } else {
                error("expect must be a list of comparisons like 'peers.crashed == 1'", at: node)
            }
        }

        if mode == .loopback {
            for use in linkUses {
                error(
                    "link profiles and steps need mode netns; in mode loopback every link is one perfect network",
                    at: use)
            }
        }
        var dht = DHTSettings()
        if let node = values["dht"]?.value { dht = dhtSettings(node) }

        var scenario = Scenario(
            name: name, summary: values["description"]?.value.scalar?.string.trimmingTrailingWhitespace, mode: mode,
            seed: seed,
            peerCount: peerCount, steps: steps, expectations: expectations)
        scenario.links = links
        scenario.dht = dht
        return scenario
    }

    /// `dht: {stabilize: 1s, fix-fingers: 2s, check-predecessor: 2s, replicate: 5s,
    /// request-timeout: 500ms, successors: 8}`, every key optional.
    mutating func dhtSettings(_ node: Node) -> DHTSettings {
        var settings = DHTSettings()
        guard let mapping = node.mapping else {
            error(
                "dht takes {stabilize, fix-fingers, check-predecessor, replicate, request-timeout, successors}",
                at: node)
            return settings
        }
        for (key, value) in mapping {
            let name = key.scalar?.string ?? "?"
            if name == "successors" {
                if let count = value.scalar.flatMap({ ScenarioReader.wholeNumber($0.string) }), (1...32).contains(count)
                {
                    settings.successors = count
                } else {
                    error("successors must be a whole number from 1 to 32", at: value)
                }
                continue
            }
            let target: WritableKeyPath<DHTSettings, Duration?>
            switch name {
            case "stabilize": target = \.stabilize
            case "fix-fingers": target = \.fixFingers
            case "check-predecessor": target = \.checkPredecessor
            case "replicate": target = \.replicate
            case "request-timeout": target = \.requestTimeout
            default:
                error(
                    "unknown key '\(name)' in dht (expected stabilize, fix-fingers, check-predecessor, replicate, request-timeout, successors)",
                    at: key)
                continue
            }
            guard let interval = duration(value) else { continue }
            guard interval >= .milliseconds(10) else {
                error("\(name) must be at least 10ms", at: value)
                continue
            }
            settings[keyPath: target] = interval
        }
        return settings
    }

    /// A profile's name, which must be one of the profiles found.
    mutating func profileName(_ node: Node) -> String? {
        guard let name = node.scalar?.string, !name.isEmpty else {
            error("expected a profile name", at: node)
            return nil
        }
        guard profiles[name] != nil else {
            error(profiles.unknown(name), at: node)
            return nil
        }
        return name
    }
}

extension ScenarioReader {
    /// A whole number written with digits only (no sign, no spaces).
    static func wholeNumber(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 9, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }
}

extension String {
    var trimmingTrailingWhitespace: String {
        var text = self
        while text.last?.isWhitespace == true { text.removeLast() }
        return text
    }
}

extension Duration {
    /// `1.5s`, `250ms`: how durations are written in scenarios and messages.
    public var text: String {
        let (seconds, attoseconds) = components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        let tenths = (Double(milliseconds) / 1000 * 1000).rounded() / 1000
        return "\(tenths)s"
    }
}
