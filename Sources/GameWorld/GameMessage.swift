import Mobility
import OverlayCore

/// What a game's clients and server say inside their sessions: a client's requests (join,
/// inputs, leave) and the server's pushes (welcome, refusal).
public enum GameMessage: Sendable, Equatable {
    /// Play as `name`; ticks go to `dataAddress` (`ip:port`).
    case join(name: String, dataAddress: String)
    /// Input `number` (from 1, one more each time) of the player: move by (dx, dy) each tick.
    case input(number: UInt32, dx: Int8, dy: Int8)
    case leave
    /// The server took the player in as `player`.
    case welcome(player: UInt32, tick: UInt32)
    case refused(reason: String)

    enum Kind: UInt8 {
        case join = 1, input, leave, welcome, refused
    }

    public var frame: [UInt8] {
        var writer = WireWriter()
        switch self {
        case .join(let name, let dataAddress):
            writer.integer(Kind.join.rawValue)
            writer.text(name)
            writer.text(dataAddress)
        case .input(let number, let dx, let dy):
            writer.integer(Kind.input.rawValue)
            writer.integer(number)
            writer.integer(UInt8(bitPattern: dx))
            writer.integer(UInt8(bitPattern: dy))
        case .leave:
            writer.integer(Kind.leave.rawValue)
        case .welcome(let player, let tick):
            writer.integer(Kind.welcome.rawValue)
            writer.integer(player)
            writer.integer(tick)
        case .refused(let reason):
            writer.integer(Kind.refused.rawValue)
            writer.text(reason)
        }
        return writer.bytes
    }

    public init(frame: [UInt8]) throws(WireError) {
        var reader = WireReader(frame)
        let offset = reader.offset
        let type = try reader.integer(UInt8.self)
        switch Kind(rawValue: type) {
        case .join?:
            self = .join(
                name: try reader.text(limit: SessionMessage.maximumClientBytes),
                dataAddress: try reader.text(limit: SessionMessage.maximumAddressBytes))
        case .input?:
            let number = try reader.integer(UInt32.self)
            let dx = Int8(bitPattern: try reader.integer(UInt8.self))
            let dy = Int8(bitPattern: try reader.integer(UInt8.self))
            self = .input(number: number, dx: dx, dy: dy)
        case .leave?: self = .leave
        case .welcome?: self = .welcome(player: try reader.integer(), tick: try reader.integer())
        case .refused?: self = .refused(reason: try reader.text(limit: 1024))
        case nil: throw .unknownType(type, offset: offset)
        }
        try reader.finish()
    }
}
