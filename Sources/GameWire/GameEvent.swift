import ControlProtocol

/// The game kind's own events: the world's log of the inputs it applied, and what each bot
/// saw. The game analysis reads them; the control protocol carries them as `Event.other`.
public enum GameEvent: KindEvent {
    /// The kind's name, as `deploy` steps and `deployed` events give it.
    public static let kind = "game"

    /// The world applied `input` (numbered from 1 by each player) of `player`; it takes
    /// effect in tick `tick`. Wherever the world runs, this is its own log.
    case inputApplied(service: String, player: Int, input: Int, tick: Int)
    /// What one bot saw by the end, and its data socket (`ip:port`): the receiver of its ticks.
    case bot(service: String, local: String, tally: GameBotTally)

    public var name: String {
        switch self {
        case .inputApplied: "game-input"
        case .bot: "game-bot"
        }
    }

    public var fields: [String: JSONValue] {
        switch self {
        case .inputApplied(let service, let player, let input, let tick):
            ["service": .string(service), "player": .int(player), "input": .int(input), "tick": .int(tick)]
        case .bot(let service, let local, let tally):
            [
                "service": .string(service), "player": .int(Int(tally.player)), "local": .string(local),
                "inputsSent": .int(Int(tally.inputsSent)), "ticks": .int(tally.ticks),
                "duplicates": .int(tally.duplicates), "reordered": .int(tally.reordered),
                "firstTick": tally.firstTick.map { .int(Int($0)) } ?? .null, "lastTick": .int(Int(tally.lastTick)),
                "lastInputSeen": .int(Int(tally.lastInputSeen)), "malformed": .int(tally.malformed),
            ]
        }
    }

    public init?(name: String, fields f: [String: JSONValue]) {
        func int(_ key: String) -> Int? { f[key]?.integer }
        guard let service = f["service"]?.string, let player = int("player") else { return nil }
        switch name {
        case "game-input":
            guard let input = int("input"), let tick = int("tick") else { return nil }
            self = .inputApplied(service: service, player: player, input: input, tick: tick)
        case "game-bot":
            func number(_ key: String) -> UInt32? { int(key).flatMap(UInt32.init(exactly:)) }
            guard let local = f["local"]?.string, let sent = number("inputsSent"), let ticks = int("ticks"),
                let duplicates = int("duplicates"), let reordered = int("reordered"), let last = number("lastTick"),
                let seen = number("lastInputSeen"), let malformed = int("malformed"),
                let id = UInt32(exactly: player)
            else { return nil }
            let first = f["firstTick"] == .null ? nil : number("firstTick")
            self = .bot(
                service: service, local: local,
                tally: GameBotTally(
                    player: id, inputsSent: sent, ticks: ticks, duplicates: duplicates, reordered: reordered,
                    firstTick: first, lastTick: last, lastInputSeen: seen, malformed: malformed))
        default:
            return nil
        }
    }
}

/// What a game bot counted: its player id, inputs sent, ticks received, duplicated and out of
/// order, its first and last tick, the last input of its own a tick showed applied, and
/// datagrams that were not ticks.
public struct GameBotTally: Sendable, Equatable {
    public var player: UInt32 = 0
    public var inputsSent: UInt32 = 0
    public var ticks = 0
    public var duplicates = 0
    public var reordered = 0
    public var firstTick: UInt32?
    public var lastTick: UInt32 = 0
    public var lastInputSeen: UInt32 = 0
    public var malformed = 0

    public init(
        player: UInt32 = 0, inputsSent: UInt32 = 0, ticks: Int = 0, duplicates: Int = 0, reordered: Int = 0,
        firstTick: UInt32? = nil, lastTick: UInt32 = 0, lastInputSeen: UInt32 = 0, malformed: Int = 0
    ) {
        self.player = player
        self.inputsSent = inputsSent
        self.ticks = ticks
        self.duplicates = duplicates
        self.reordered = reordered
        self.firstTick = firstTick
        self.lastTick = lastTick
        self.lastInputSeen = lastInputSeen
        self.malformed = malformed
    }
}
