import GameWire
import Mobility
import OverlayCore

/// The world's state and operations as bytes, version 2 (128-bit session ids and tokens): what
/// a migration copies (the
/// snapshot) and streams (the operations). Lists carry a count with a limit, so a hostile
/// snapshot cannot make the decoder allocate without bound.
extension GameState {
    static let snapshotVersion: UInt8 = 2

    /// The whole state as bytes.
    public var snapshot: [UInt8] {
        var writer = WireWriter()
        writer.integer(Self.snapshotVersion)
        writer.integer(sequence)
        writer.integer(tick)
        writer.integer(nextPlayer)
        writer.integer(UInt16(players.count))
        for player in players { player.write(to: &writer) }
        sessions.write(to: &writer)
        return writer.bytes
    }

    /// A state from a snapshot's bytes.
    public init(snapshot bytes: [UInt8]) throws(WireError) {
        var reader = WireReader(bytes)
        try reader.version(Self.snapshotVersion)
        var state = GameState()
        state.sequence = try reader.sequence()
        state.tick = try reader.integer()
        let nextOffset = reader.offset
        state.nextPlayer = try reader.integer()
        guard state.nextPlayer < .max else { throw .invalid("next player \(state.nextPlayer)", offset: nextOffset) }
        let countOffset = reader.offset
        let count = Int(try reader.integer(UInt16.self))
        guard count <= GameTick.maximumPlayers else { throw .invalid("\(count) players", offset: countOffset) }
        for _ in 0..<count {
            let offset = reader.offset
            let player = try GamePlayer(from: &reader)
            let previous = state.players.last?.id ?? 0
            guard player.id < state.nextPlayer, previous < player.id else {
                throw .invalid("player id \(player.id) out of place", offset: offset)
            }
            state.players.append(player)
        }
        state.sessions = try SessionTable(from: &reader, limit: SessionTable.maximumSessions)
        try reader.finish()
        self = state
    }
}

extension GamePlayer {
    init(from reader: inout WireReader) throws(WireError) {
        self.init(
            id: try reader.integer(), name: try reader.text(limit: SessionMessage.maximumClientBytes),
            dataAddress: try reader.text(limit: SessionMessage.maximumAddressBytes),
            session: try reader.session())
        let start = reader.offset
        x = Int32(bitPattern: try reader.integer())
        y = Int32(bitPattern: try reader.integer())
        dx = Int8(bitPattern: try reader.integer())
        dy = Int8(bitPattern: try reader.integer())
        // Inside the arena, moving a step at most: the world's arithmetic relies on it.
        guard abs(Int64(x)) <= Int64(GameState.arena), abs(Int64(y)) <= Int64(GameState.arena) else {
            throw .invalid("position (\(x), \(y)) outside the arena", offset: start)
        }
        guard (-1...1).contains(dx), (-1...1).contains(dy) else {
            throw .invalid("direction (\(dx), \(dy))", offset: start + 8)
        }
        score = try reader.integer()
        lastInput = try reader.integer()
        inputsApplied = try reader.integer()
    }

    func write(to writer: inout WireWriter) {
        writer.integer(id)
        writer.text(name)
        writer.text(dataAddress)
        writer.session(session)
        writer.integer(UInt32(bitPattern: x))
        writer.integer(UInt32(bitPattern: y))
        writer.integer(UInt8(bitPattern: dx))
        writer.integer(UInt8(bitPattern: dy))
        writer.integer(score)
        writer.integer(lastInput)
        writer.integer(inputsApplied)
    }
}

extension GameOperation {
    enum Kind: UInt8 {
        case session = 1, join, leave, input, tick
    }

    public var bytes: [UInt8] {
        var writer = WireWriter()
        switch self {
        case .session(let id, let session):
            writer.integer(Kind.session.rawValue)
            SessionChange.write(id, session, to: &writer)
        case .join(let player):
            writer.integer(Kind.join.rawValue)
            player.write(to: &writer)
        case .leave(let player):
            writer.integer(Kind.leave.rawValue)
            writer.integer(player)
        case .input(let player, let number, let dx, let dy):
            writer.integer(Kind.input.rawValue)
            writer.integer(player)
            writer.integer(number)
            writer.integer(UInt8(bitPattern: dx))
            writer.integer(UInt8(bitPattern: dy))
        case .tick:
            writer.integer(Kind.tick.rawValue)
        }
        return writer.bytes
    }

    public init(bytes: [UInt8]) throws(WireError) {
        var reader = WireReader(bytes)
        let offset = reader.offset
        let type = try reader.integer(UInt8.self)
        switch Kind(rawValue: type) {
        case .session?:
            let (id, session) = try SessionChange.read(from: &reader)
            self = .session(id: id, session)
        case .join?: self = .join(try GamePlayer(from: &reader))
        case .leave?: self = .leave(player: try reader.integer())
        case .input?:
            let player = try reader.integer(UInt32.self)
            let number = try reader.integer(UInt32.self)
            let dx = Int8(bitPattern: try reader.integer(UInt8.self))
            let dy = Int8(bitPattern: try reader.integer(UInt8.self))
            self = .input(player: player, number: number, dx: dx, dy: dy)
        case .tick?: self = .tick
        case nil: throw .unknownType(type, offset: offset)
        }
        try reader.finish()
    }
}
