import GameWire
import Mobility

/// One player in the world.
public struct GamePlayer: Sendable, Equatable {
    public var id: UInt32
    public var name: String
    /// Where the player's ticks go, `ip:port`.
    public var dataAddress: String
    public var session: SessionID
    public var x: Int32 = 0
    public var y: Int32 = 0
    /// The move the player's last input asked for, applied every tick.
    public var dx: Int8 = 0
    public var dy: Int8 = 0
    /// One point for every tick the player moved.
    public var score: UInt32 = 0
    public var lastInput: UInt32 = 0
    public var inputsApplied: UInt32 = 0

    public init(id: UInt32, name: String, dataAddress: String, session: SessionID) {
        self.id = id
        self.name = name
        self.dataAddress = dataAddress
        self.session = session
    }
}

/// A change of the world; every change goes through one, so a replica that replays them ends
/// where the primary is.
public enum GameOperation: Sendable, Equatable {
    case session(id: SessionID, SessionTable.Session?)
    case join(GamePlayer)
    case leave(player: UInt32)
    case input(player: UInt32, number: UInt32, dx: Int8, dy: Int8)
    /// The world advances one tick: every player moves by its last input, inside the arena.
    case tick
}

/// The game world's whole movable state: the tick, the players, their sessions.
public struct GameState: Sendable, Equatable {
    /// Players stay within ±`arena` on both axes.
    public static let arena: Int32 = 1000
    /// How far one step of an input moves a player in a tick.
    public static let speed: Int32 = 5

    public internal(set) var tick: UInt32 = 0
    /// By id, ascending.
    public internal(set) var players: [GamePlayer] = []
    public internal(set) var nextPlayer: UInt32 = 1
    public internal(set) var sessions = SessionTable()
    /// The last operation applied.
    public internal(set) var sequence: UInt64 = 0

    public init() {}

    /// Why an operation does not fit the state.
    public enum Rejection: Error, Equatable {
        case unknownPlayer(UInt32)
        case playerExists(UInt32)
        case inputOutOfOrder(player: UInt32, number: UInt32)
        /// A join beyond `GameTick.maximumPlayers`, or with the last id there is.
        case full
    }

    /// Applies `operation` and returns its sequence number; an operation that does not fit
    /// leaves the state as it was.
    @discardableResult
    public mutating func apply(_ operation: GameOperation) throws(Rejection) -> UInt64 {
        switch operation {
        case .session(let id, let session):
            sessions.set(id, session)
        case .join(let player):
            // An operation replayed from another host is checked as a client's join is: a tick
            // shows at most `maximumPlayers`, and the next id must exist.
            guard players.count < GameTick.maximumPlayers, player.id < .max, nextPlayer < .max else { throw .full }
            guard !players.contains(where: { $0.id == player.id }) else { throw .playerExists(player.id) }
            players.append(player)
            players.sort { $0.id < $1.id }
            nextPlayer = max(nextPlayer, player.id &+ 1)
        case .leave(let id):
            guard let index = players.firstIndex(where: { $0.id == id }) else { throw .unknownPlayer(id) }
            players.remove(at: index)
        case .input(let id, let number, let dx, let dy):
            guard let index = players.firstIndex(where: { $0.id == id }) else { throw .unknownPlayer(id) }
            guard number > players[index].lastInput else { throw .inputOutOfOrder(player: id, number: number) }
            players[index].dx = dx.signum()
            players[index].dy = dy.signum()
            players[index].lastInput = number
            players[index].inputsApplied &+= 1
        case .tick:
            tick &+= 1
            for index in players.indices {
                let player = players[index]
                players[index].x = Self.step(player.x, by: player.dx)
                players[index].y = Self.step(player.y, by: player.dy)
                if player.dx != 0 || player.dy != 0 { players[index].score &+= 1 }
            }
        }
        sequence += 1
        return sequence
    }

    private static func step(_ value: Int32, by direction: Int8) -> Int32 {
        min(arena, max(-arena, value + Int32(direction) * speed))
    }
}
