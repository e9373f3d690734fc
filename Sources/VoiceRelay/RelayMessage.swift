import Mobility
import OverlayCore

/// A message on the relay's TCP control channel, either way. Each travels as one frame with a
/// 16-bit length prefix (the transport's): version, type, then the type's fields.
public enum RelayMessage: Sendable, Equatable {
    // Client to relay.
    /// Take me in: I am `name` and receive data at `dataAddress` (`ip:port`).
    case join(name: String, dataAddress: String)
    /// Let me go.
    case leave
    /// Who is here? Answered by `participants`.
    case listParticipants

    // Relay to client.
    /// You are in: your id, and where to send data.
    case welcome(participant: UInt32, relayDataAddress: String)
    /// Everyone here now, in the order they joined; sent on request and after every change.
    case participants([Member])
    /// Your request was not taken, and why.
    case refused(reason: String)

    /// A participant as other participants see it.
    public struct Member: Sendable, Equatable {
        public var id: UInt32
        public var name: String

        public init(id: UInt32, name: String) {
            self.id = id
            self.name = name
        }
    }

    static let version: UInt8 = 2

    enum Kind: UInt8 {
        case join = 1, leave, listParticipants, welcome, participants, refused
    }

    /// The message as one frame (without the length prefix).
    public var frame: [UInt8] {
        var writer = WireWriter()
        writer.integer(Self.version)
        switch self {
        case .join(let name, let dataAddress):
            writer.integer(Kind.join.rawValue)
            writer.text(name)
            writer.text(dataAddress)
        case .leave: writer.integer(Kind.leave.rawValue)
        case .listParticipants: writer.integer(Kind.listParticipants.rawValue)
        case .welcome(let participant, let address):
            writer.integer(Kind.welcome.rawValue)
            writer.integer(participant)
            writer.text(address)
        case .participants(let members):
            writer.integer(Kind.participants.rawValue)
            writer.integer(UInt16(members.count))
            for member in members {
                writer.integer(member.id)
                writer.text(member.name)
            }
        case .refused(let reason):
            writer.integer(Kind.refused.rawValue)
            writer.text(reason)
        }
        return writer.bytes
    }

    /// Decodes one frame; anything else than exactly one well-formed message throws, with the
    /// offset where reading stopped.
    public init(frame: [UInt8]) throws(WireError) {
        var reader = WireReader(frame)
        try reader.version(Self.version)
        let typeOffset = reader.offset
        let type = try reader.integer(UInt8.self)
        switch Kind(rawValue: type) {
        case .join?:
            self = .join(
                name: try reader.text(limit: SessionMessage.maximumClientBytes),
                dataAddress: try reader.text(limit: SessionMessage.maximumAddressBytes))
        case .leave?: self = .leave
        case .listParticipants?: self = .listParticipants
        case .welcome?:
            self = .welcome(participant: try reader.integer(), relayDataAddress: try reader.text(limit: 255))
        case .participants?:
            let countOffset = reader.offset
            let count = Int(try reader.integer(UInt16.self))
            guard count <= RelayInstance.maximumParticipants else {
                throw .invalid("\(count) participants", offset: countOffset)
            }
            var members: [Member] = []
            for _ in 0..<count {
                members.append(
                    Member(id: try reader.integer(), name: try reader.text(limit: SessionMessage.maximumClientBytes)))
            }
            self = .participants(members)
        case .refused?: self = .refused(reason: try reader.text(limit: 1024))
        case nil: throw .unknownType(type, offset: typeOffset)
        }
        try reader.finish()
    }
}
