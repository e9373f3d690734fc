/// The protocols that share the overlay's connections between peers. Every overlay frame (the
/// length prefix is the transport's) starts with an envelope: its protocol's id, then that
/// protocol's wire version. A peer hands each frame to its own protocol by the id and refuses,
/// counted, a frame whose id names none.
public enum OverlayProtocol: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Chord and the registry (`ChordWire`).
    case dht = 1
    /// Moving services between hosts (`MigrationMessage`).
    case migration = 2

    /// The protocol a frame belongs to, by its first byte; nil if it names none.
    public init?(frame: [UInt8]) {
        guard let first = frame.first else { return nil }
        self.init(rawValue: first)
    }

    public var description: String {
        switch self {
        case .dht: "DHT"
        case .migration: "migration"
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
