/// OverlayCore holds what every layer of Seamless shares: peer names and their addressing,
/// the seeded random generator that drives every random choice of a run, and the
/// distributions drawn from it. It does no I/O and imports nothing but the standard library.

/// The name of a peer in a run: `peer-1 ... peer-N`. The same name is used in scenarios, on the
/// command line, in `events.jsonl`, in logs and in reports; every address of the peer is
/// derived from its index.
public struct PeerName: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The peer's number, 1 or more.
    public let index: Int

    public init(index: Int) {
        precondition(index >= 1, "peer indices start at 1")
        self.index = index
    }

    /// Parses `peer-N` (N ≥ 1, no leading zeros); anything else is `nil`.
    public init?(_ text: some StringProtocol) {
        guard text.hasPrefix("peer-") else { return nil }
        let digits = text.dropFirst(5)
        guard let first = digits.first, first != "0", digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let index = Int(digits), index >= 1, index <= PeerName.maximumIndex
        else { return nil }
        self.index = index
    }

    /// The highest peer number: addresses are derived from the index, and the address
    /// schemes give each run 65,535 host numbers.
    public static let maximumIndex = 65_000

    public var description: String { "peer-\(index)" }

    public static func < (lhs: PeerName, rhs: PeerName) -> Bool { lhs.index < rhs.index }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let name = PeerName(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a peer name: \(text)"))
        }
        self = name
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Duration {
    /// The duration in seconds, as a Double (for rates and reports; times themselves stay
    /// durations).
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in milliseconds, as a Double (for events and reports).
    public var inMilliseconds: Double { inSeconds * 1000 }
}
