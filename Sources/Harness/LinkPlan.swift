import ControlProtocol
import LinkEmulation
import OverlayCore
import Scenario

/// Which link profile each peer's uplink and downlink start with in netns mode, and the
/// profiles themselves, as found for the scenario (`ProfileCatalogue`). The scenario was
/// validated against the same catalogue, so every name it uses is here.
struct LinkPlan: Sendable {
    let assignments: LinkAssignments
    let catalogue: ProfileCatalogue

    /// The profile names a peer's directions start with; nil: none (a perfect link).
    func names(of peer: PeerName) -> (up: String?, down: String?) {
        let pair = assignments.peers[peer]
        return (pair?.up ?? assignments.everyPeer, pair?.down ?? assignments.everyPeer)
    }

    /// The profiles a peer's directions start with.
    func profiles(of peer: PeerName) -> (up: LinkProfile, down: LinkProfile) {
        let (up, down) = names(of: peer)
        return (profile(up), profile(down))
    }

    /// A profile by name; no name is the zero profile.
    func profile(_ name: String?) -> LinkProfile {
        name.flatMap { catalogue[$0]?.profile } ?? .zero
    }

    /// The events that say what the run's links run with: one `link-profile` per profile the
    /// scenario names, with its file and parameters.
    func profileEvents(for scenario: Scenario) -> [Event] {
        scenario.profileNames.sorted().compactMap { name in
            catalogue[name].map { .linkProfile(name: name, file: $0.file, parameters: $0.profile.parameters) }
        }
    }
}

extension LinkProfile {
    /// The profile as report.json shows it: times in milliseconds, rates in bits per second.
    var parameters: [String: JSONValue] {
        func ms(_ duration: Duration) -> JSONValue { .number(duration.inMilliseconds) }
        let jitter: [String: JSONValue] =
            switch self.jitter {
            case .none: ["distribution": .string("none")]
            case .uniform(let spread): ["distribution": .string("uniform"), "spreadMs": ms(spread)]
            case .normal(let deviation): ["distribution": .string("normal"), "deviationMs": ms(deviation)]
            case .pareto(let mean, let shape):
                ["distribution": .string("pareto"), "meanMs": ms(mean), "shape": .number(shape)]
            }
        let loss: [String: JSONValue] =
            switch self.loss {
            case .none: ["model": .string("none")]
            case .independent(let p): ["model": .string("independent"), "probability": .number(p)]
            case .gilbertElliott(let enter, let leave, let good, let bad):
                [
                    "model": .string("gilbert-elliott"), "enterBad": .number(enter), "leaveBad": .number(leave),
                    "lossInGood": .number(good), "lossInBad": .number(bad),
                ]
            }
        return [
            "delayMs": ms(delay), "jitter": .object(jitter), "loss": .object(loss), "duplication": .number(duplication),
            "reordering": .number(reordering), "rateBitsPerSecond": rate.map { .number(Double($0)) } ?? .null,
            "queueBytes": .number(Double(queueBytes)), "mtu": .number(Double(mtu)),
        ]
    }
}
