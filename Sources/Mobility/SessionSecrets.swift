import OverlayCore

/// A session's name: 128 bits from `SessionSecrets`, so that nobody who has seen other sessions
/// can guess one. It travels in the clear inside the service's messages (a late control
/// message names its session); the token is what proves a session is one's own.
public struct SessionID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static func < (a: SessionID, b: SessionID) -> Bool { (a.high, a.low) < (b.high, b.low) }

    /// 32 hex digits.
    public var description: String { Self.hex(high) + Self.hex(low) }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// The proof that a session is the client's: 128 bits from `SessionSecrets`, known only to the
/// client and the hosts of its service. A `resume` without it is refused.
public struct SessionToken: Sendable, Hashable {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
}

/// Where a service's new sessions' ids and tokens come from: the system's cryptographically
/// secure generator (`SystemRandomNumberGenerator`: getrandom(2) on Linux) wherever a service
/// runs; a seeded one only where a test must replay. The experiment's own seeded draws never
/// make a secret.
public enum SessionSecrets: Sendable {
    case system
    case seeded(SeededGenerator)

    /// A new session's id and token.
    public mutating func next() -> (id: SessionID, token: SessionToken) {
        switch self {
        case .system:
            var system = SystemRandomNumberGenerator()
            return Self.draw(&system)
        case .seeded(var generator):
            defer { self = .seeded(generator) }
            return Self.draw(&generator)
        }
    }

    private static func draw(_ generator: inout some RandomNumberGenerator) -> (id: SessionID, token: SessionToken) {
        (
            SessionID(high: generator.next(), low: generator.next()),
            SessionToken(high: generator.next(), low: generator.next())
        )
    }
}

extension WireWriter {
    /// 16 bytes, big-endian.
    public mutating func session(_ id: SessionID) {
        integer(id.high)
        integer(id.low)
    }

    /// 16 bytes, big-endian.
    public mutating func token(_ token: SessionToken) {
        integer(token.high)
        integer(token.low)
    }
}

extension WireReader {
    public mutating func session() throws(WireError) -> SessionID {
        SessionID(high: try integer(), low: try integer())
    }

    public mutating func token() throws(WireError) -> SessionToken {
        SessionToken(high: try integer(), low: try integer())
    }
}
