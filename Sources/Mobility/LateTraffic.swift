import OverlayCore

/// Traffic for a service that reached its previous host after the commit, as that host forwards
/// it to the new one (inside a migration's `late` message): a data packet with its sender, or a
/// control message with its session.
public enum LateTraffic: Sendable, Equatable {
    case data(sender: String, packet: [UInt8])
    case control(session: SessionID, SessionMessage)

    enum Kind: UInt8 {
        case data = 1, control
    }

    /// Whether `bytes` (as `bytes` encodes traffic) hold a data packet: those travel as a
    /// `LateDatagram` once the target's data socket is known.
    public static func isData(_ bytes: [UInt8]) -> Bool { bytes.first == Kind.data.rawValue }

    public var bytes: [UInt8] {
        var writer = WireWriter()
        switch self {
        case .data(let sender, let packet):
            writer.integer(Kind.data.rawValue)
            writer.text(sender)
            writer.integer(UInt16(clamping: packet.count))
            writer.append(packet.prefix(Int(UInt16.max)))
        case .control(let session, let message):
            writer.integer(Kind.control.rawValue)
            writer.session(session)
            let frame = message.frame
            writer.integer(UInt16(clamping: frame.count))
            writer.append(frame.prefix(Int(UInt16.max)))
        }
        return writer.bytes
    }

    public init(bytes: [UInt8]) throws(WireError) {
        var reader = WireReader(bytes)
        let offset = reader.offset
        let type = try reader.integer(UInt8.self)
        switch Kind(rawValue: type) {
        case .data?:
            let sender = try reader.text(limit: 255)
            self = .data(sender: sender, packet: Array(try reader.bytes(Int(try reader.integer(UInt16.self)))))
        case .control?:
            let session = try reader.session()
            self = .control(
                session: session,
                try SessionMessage(frame: Array(try reader.bytes(Int(try reader.integer(UInt16.self))))))
        case nil: throw .unknownType(type, offset: offset)
        }
        try reader.finish()
    }
}

/// A data packet the source forwards to the target's data socket over UDP rather than inside
/// a `late` message on the overlay's TCP connection: each goes as it came, so one lost on the
/// way holds up no other (over TCP a lost segment holds back every later packet until it is
/// resent, and they reach the receivers behind the packets sent to the target directly).
///
///     'M' 'L'  version (1)  migration UInt64  traffic (`LateTraffic.data` as `bytes` encodes it)
public struct LateDatagram: MobilityDatagram, Sendable, Equatable {
    public static let magic: (UInt8, UInt8) = (0x4D, 0x4C)
    public static let version: UInt8 = 1

    public var migration: UInt64
    public var traffic: [UInt8]

    public init(migration: UInt64, traffic: [UInt8]) {
        self.migration = migration
        self.traffic = traffic
    }

    public var bytes: [UInt8] {
        var writer = WireWriter()
        writer.append(Self.header)
        writer.integer(migration)
        writer.append(traffic)
        return writer.bytes
    }

    /// Reads one; the traffic inside must read as a data packet.
    public init(bytes: [UInt8]) throws(WireError) {
        var reader = WireReader(bytes)
        try reader.magic(Self.magic, version: Self.version, of: "a late datagram")
        migration = try reader.integer(UInt64.self)
        let offset = reader.offset
        traffic = Array(try reader.bytes(bytes.count - offset))
        guard case .data = try LateTraffic(bytes: traffic) else {
            throw .invalid("late datagram without data", offset: offset)
        }
    }
}
