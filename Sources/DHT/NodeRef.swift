/// A Chord node as others know it: where it listens, and its identifier, the SHA-1 of
/// `host:port`. Two references are the same node when their identifiers are.
public struct NodeRef: Hashable, Sendable, CustomStringConvertible {
    public let id: ChordID
    /// An IPv4 address in dotted-quad form, or any other host text.
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
        self.id = ChordID.hashing("\(host):\(port)")
    }

    /// `host:port`.
    public var address: String { "\(host):\(port)" }
    public var description: String { address }

    public static func == (lhs: NodeRef, rhs: NodeRef) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
}
