import LinkEmulation
import Yams

/// Link profiles: YAML files (the project's under `Testbed/profiles/`), one direction's behaviour each.
///
/// ```yaml
/// name: wifi
/// delay: 3ms
/// jitter: {distribution: normal, deviation: 2ms}     # or uniform {spread}, pareto {mean, shape}
/// loss: {model: gilbert-elliott, enter-bad: 0.01, leave-bad: 0.3, loss-in-good: 0.001, loss-in-bad: 0.3}
///                                                    # or {model: independent, probability: 0.02}
/// duplication: 0.0001
/// reordering: 0.001
/// rate: 50Mbit                                       # bits per second: 800kbit, 50Mbit, 1Gbit
/// queue: 64KB                                        # bytes waiting behind the rate: 1500B, 64KB, 1MB
/// mtu: 1500
/// ```
/// Every key but `name` is optional (the zero profile's value).
public struct NamedProfile: Sendable, Equatable {
    public var name: String
    public var profile: LinkProfile

    public init(name: String, profile: LinkProfile) {
        self.name = name
        self.profile = profile
    }
}

extension NamedProfile {
    /// Parses one profile file's text; every problem is a diagnostic with its position.
    public static func parse(_ text: String, file: String) throws(Diagnostics) -> NamedProfile {
        var reader = ScenarioReader(file: file)
        let root = try YAMLSource.compose(text, file: file)
        let parsed = reader.profile(from: root)
        guard let parsed, reader.diagnostics.isEmpty else {
            throw Diagnostics(reader.diagnostics)
        }
        return parsed
    }
}

extension ScenarioReader {
    static let profileKeys = ["name", "delay", "jitter", "loss", "duplication", "reordering", "rate", "queue", "mtu"]

    mutating func profile(from root: Node?) -> NamedProfile? {
        guard let mapping = root?.mapping else {
            error("a link profile is a mapping with name, delay, jitter, loss, ...", at: root)
            return nil
        }
        var name: String?
        var profile = LinkProfile.zero
        for (key, value) in mapping {
            switch key.scalar?.string {
            case "name": name = value.scalar?.string
            case "delay": duration(value).map { profile.delay = $0 }
            case "jitter": jitter(value).map { profile.jitter = $0 }
            case "loss": loss(value).map { profile.loss = $0 }
            case "duplication": probability(value).map { profile.duplication = $0 }
            case "reordering": probability(value).map { profile.reordering = $0 }
            case "rate":
                quantity(
                    value, units: [("kbit", 1_000), ("Mbit", 1_000_000), ("Gbit", 1_000_000_000)], what: "rate",
                    example: "50Mbit"
                ).map { profile.rate = $0 }
            case "queue":
                quantity(value, units: [("B", 1), ("KB", 1024), ("MB", 1024 * 1024)], what: "queue", example: "64KB")
                    .map { profile.queueBytes = $0 }
            case "mtu":
                if let mtu = value.scalar.flatMap({ Self.wholeNumber($0.string) }), (68...65535).contains(mtu) {
                    profile.mtu = mtu
                } else {
                    error("mtu must be a whole number of bytes from 68 to 65535", at: value)
                }
            default:
                error(
                    "unknown key '\(key.scalar?.string ?? "?")' (expected one of: \(Self.profileKeys.joined(separator: ", ")))",
                    at: key)
            }
        }
        guard let name, !name.isEmpty else {
            error("missing 'name'", at: root)
            return nil
        }
        return NamedProfile(name: name, profile: profile)
    }

    mutating func probability(_ node: Node) -> Double? {
        if let value = node.scalar.flatMap({ Double($0.string) }), (0...1).contains(value) { return value }
        error("expected a probability from 0 to 1", at: node)
        return nil
    }

    /// A whole number with a unit: `50Mbit`, `64KB`.
    mutating func quantity(_ node: Node, units: [(String, Int)], what: String, example: String) -> Int? {
        let text = node.scalar?.string ?? ""
        for (unit, scale) in units.sorted(by: { $0.0.count > $1.0.count }) where text.hasSuffix(unit) {
            if let number = Self.wholeNumber(String(text.dropLast(unit.count))), number > 0 { return number * scale }
        }
        error(
            "bad \(what) '\(text)': a whole number and a unit (\(units.map(\.0).joined(separator: ", "))), like \(example)",
            at: node)
        return nil
    }

    mutating func jitter(_ node: Node) -> LinkProfile.Jitter? {
        guard let mapping = node.mapping else {
            error("jitter is {distribution: uniform|normal|pareto, ...}", at: node)
            return nil
        }
        let fields = members(mapping)
        switch fields["distribution"]?.scalar?.string {
        case "uniform":
            guard let spread = field("spread", fields, in: node, { $0.duration($1) }) else { return nil }
            return .uniform(spread: spread)
        case "normal":
            guard let deviation = field("deviation", fields, in: node, { $0.duration($1) }) else { return nil }
            return .normal(deviation: deviation)
        case "pareto":
            guard let mean = field("mean", fields, in: node, { $0.duration($1) }) else { return nil }
            guard let shape = fields["shape"]?.scalar.flatMap({ Double($0.string) }), shape > 1 else {
                error("pareto jitter needs a shape above 1", at: fields["shape"] ?? node)
                return nil
            }
            return .pareto(mean: mean, shape: shape)
        default:
            error("jitter distribution must be uniform, normal or pareto", at: fields["distribution"] ?? node)
            return nil
        }
    }

    mutating func loss(_ node: Node) -> LinkProfile.Loss? {
        guard let mapping = node.mapping else {
            error("loss is {model: independent, probability: p} or {model: gilbert-elliott, ...}", at: node)
            return nil
        }
        let fields = members(mapping)
        switch fields["model"]?.scalar?.string {
        case "independent":
            guard let p = field("probability", fields, in: node, { $0.probability($1) }) else { return nil }
            return .independent(p)
        case "gilbert-elliott":
            var values: [Double] = []
            for key in ["enter-bad", "leave-bad", "loss-in-good", "loss-in-bad"] {
                guard let value = field(key, fields, in: node, { $0.probability($1) }) else { return nil }
                values.append(value)
            }
            return .gilbertElliott(
                enterBad: values[0], leaveBad: values[1], lossInGood: values[2], lossInBad: values[3])
        default:
            error("loss model must be independent or gilbert-elliott", at: fields["model"] ?? node)
            return nil
        }
    }

    /// A mapping's members by key.
    func members(_ mapping: Node.Mapping) -> [String: Node] {
        var fields: [String: Node] = [:]
        for (key, value) in mapping { fields[key.scalar?.string ?? ""] = value }
        return fields
    }

    /// A required member: reported as missing when absent, parsed (and reported if invalid)
    /// when present.
    private mutating func field<T>(
        _ key: String, _ fields: [String: Node], in node: Node, _ parse: (inout ScenarioReader, Node) -> T?
    ) -> T? {
        guard let value = fields[key] else {
            error("missing '\(key)'", at: node)
            return nil
        }
        return parse(&self, value)
    }
}
