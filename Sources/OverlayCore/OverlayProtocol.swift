/// The protocols that share the overlay's connections between peers. Every overlay frame (the
/// length prefix is the transport's) starts with an envelope: its protocol's id, then that
/// protocol's wire version. A peer hands each frame to its own protocol by the id and refuses,
/// counted, a frame whose id names none.
public enum OverlayProtocol: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Chord and the registry (`ChordWire`).
    case dht = 1
    /// Moving services between hosts (`MigrationMessage`).
    case migration = 2
    /// The first frame on a connection, from the peer that opened it (`OverlayHello`).
    case hello = 3

    /// The protocol a frame belongs to, by its first byte; nil if it names none.
    public init?(frame: [UInt8]) {
        guard let first = frame.first else { return nil }
        self.init(rawValue: first)
    }

    public var description: String {
        switch self {
        case .dht: "DHT"
        case .migration: "migration"
        case .hello: "hello"
        }
    }
}

extension WireWriter {
    /// Starts an overlay frame of `overlay`, in its wire `version`.
    public mutating func envelope(_ overlay: OverlayProtocol, version: UInt8) {
        integer(overlay.rawValue)
        integer(version)
    }
}

extension WireReader {
    /// Reads an overlay frame's envelope, which must name `overlay` and its wire `version`.
    public mutating func envelope(_ overlay: OverlayProtocol, version expected: UInt8) throws(WireError) {
        let offset = self.offset
        let id = try integer(UInt8.self)
        guard id == overlay.rawValue else { throw .invalid("not a \(overlay) frame", offset: offset) }
        try version(expected)
    }
}

/// The first frame on an overlay connection, from the peer that opened it: where that peer
/// listens, so the peer that accepted it can send its own frames back on the same connection
/// (one connection per pair of peers, both directions on it).
public struct OverlayHello: Sendable, Equatable {
    static let version: UInt8 = 1
    /// The longest host a hello may name (a DNS name's limit).
    static let hostLimit = 253

    /// The opener's overlay listener.
    public var listener: HostPort

    public init(listener: HostPort) { self.listener = listener }

    /// The hello `frame` holds, or why it is none.
    public init(frame: [UInt8]) throws(WireError) {
        var reader = WireReader(frame)
        try reader.envelope(.hello, version: Self.version)
        let host = try reader.text(limit: Self.hostLimit)
        guard !host.isEmpty else { throw .invalid("empty host", offset: 2) }
        let port = try reader.integer(UInt16.self)
        try reader.finish()
        listener = HostPort(host: host, port: port)
    }

    /// The hello as an overlay frame.
    public var frame: [UInt8] {
        var writer = WireWriter()
        writer.envelope(.hello, version: Self.version)
        writer.text(listener.host)
        writer.integer(listener.port)
        return writer.bytes
    }
}
