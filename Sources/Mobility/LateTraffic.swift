import OverlayCore

/// Traffic for a service that reached its previous host after the commit, as that host forwards
/// it to the new one (inside a migration's `late` message): a data packet with its sender, or a
/// control message with its session.
public enum LateTraffic: Sendable, Equatable {
    case data(sender: String, packet: [UInt8])
    case control(session: UInt64, SessionMessage)

    enum Kind: UInt8 {
        case data = 1, control
    }

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
            writer.integer(session)
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
            let session = try reader.integer(UInt64.self)
            self = .control(
                session: session,
                try SessionMessage(frame: Array(try reader.bytes(Int(try reader.integer(UInt16.self))))))
        case nil: throw .unknownType(type, offset: offset)
        }
        try reader.finish()
    }
}
