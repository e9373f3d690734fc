import ControlProtocol
import GameWire
import OverlayCore

/// The `game` section of report.json: per bot, whether every input it sent was applied exactly
/// once and in order, from the worlds' own log (`game-input` events, wherever the world ran)
/// and from the capture (the inputs each tick showed applied); and per receiver the ticks as the
/// capture saw them (`ticks`, added with the capture).
public struct GameFigures: Sendable, Equatable, Codable {
    public var clients: [Client]
    public var ticks: [GameTickFigures]
    /// `service-failed` events of game services and bots.
    public var failures: [String]

    /// One bot.
    public struct Client: Sendable, Equatable, Codable {
        public var peer: String
        public var service: String
        public var player: Int
        /// Its data socket, `ip:port`: the receiver of its ticks.
        public var local: String
        public var inputsSent: Int
        /// From the worlds' log: inputs applied, inputs of 1...inputsSent with no entry, entries
        /// beyond the first for one input, and entries that came before a lower input's.
        public var inputsApplied: Int
        public var inputsMissing: Int
        public var inputsAppliedTwice: Int
        public var inputsOutOfOrder: Int
        /// Entries of a host that a hot standby took the world over from, logged after the
        /// standby last heard it and applied again after the takeover: the standby never got
        /// them, and that host showed them to no one (its ticks and answers wait for the
        /// standby), so they went with its state. They count neither as applied nor twice; what
        /// the bots saw is the capture's to judge.
        public var inputsDiscarded: Int = 0
        /// From the capture: the player's last input in the last tick any receiver got, and how
        /// many sent inputs it does not show applied (nil without a capture).
        public var captureLastInput: Int?
        public var captureUnapplied: Int?
        /// What the bot itself counted: ticks received, duplicates, out of order.
        public var ticksReceived: Int
        public var ticksDuplicated: Int
        public var ticksReordered: Int
    }

    /// The figures, or nil when the run had no game.
    public init?(events: [EventLine]) {
        clients = []
        ticks = []
        failures = []
        var applied: [String: [(input: Int, t: Double, peer: String)]] = [:]  // by "service/player"
        // Each failover to a standby: the old host, and when the standby last heard it.
        var superseded: [String: [(host: String, after: Double)]] = [:]
        var gameServices: Set<String> = []
        for line in events {
            switch line.event.as(GameEvent.self) {
            case .inputApplied(let service, let player, let input, _):
                applied["\(service)/\(player)", default: []].append((input, line.t.seconds, line.peer))
            case .bot(let service, let local, let tally):
                clients.append(
                    Client(
                        peer: line.peer, service: service, player: Int(tally.player), local: local,
                        inputsSent: Int(tally.inputsSent), inputsApplied: 0, inputsMissing: 0, inputsAppliedTwice: 0,
                        inputsOutOfOrder: 0, ticksReceived: tally.ticks, ticksDuplicated: tally.duplicates,
                        ticksReordered: tally.reordered))
            case nil:
                break
            }
            switch line.event {
            case .deployed(let service, let kind, _, _) where kind == GameEvent.kind:
                gameServices.insert(service)
            case .failover(let service, let from, _, _, let silenceMs, _):
                superseded[service, default: []].append((from, line.t.seconds - silenceMs / 1000))
            case .serviceFailed(let service, let reason) where gameServices.contains(service):
                failures.append("\(line.peer): \(service): \(reason)")
            default:
                break
            }
        }
        for index in clients.indices {
            let service = clients[index].service
            let entries = (applied["\(service)/\(clients[index].player)"] ?? []).sorted { $0.t < $1.t }
            let log = entries.enumerated().filter { index, entry in
                let lost = (superseded[service] ?? []).contains { entry.peer == $0.host && entry.t >= $0.after }
                return !(lost && entries[(index + 1)...].contains { $0.input == entry.input && $0.peer != entry.peer })
            }.map(\.element)
            clients[index].inputsDiscarded = entries.count - log.count
            let inputs = log.map(\.input)
            let distinct = Set(inputs)
            clients[index].inputsApplied = inputs.count
            clients[index].inputsAppliedTwice = inputs.count - distinct.count
            clients[index].inputsMissing = (0..<clients[index].inputsSent).count { !distinct.contains($0 + 1) }
            clients[index].inputsOutOfOrder = zip(inputs, inputs.dropFirst()).count { $0 >= $1 }
        }
        clients.sort { ($0.service, $0.peer) < ($1.service, $1.peer) }
        if clients.isEmpty && gameServices.isEmpty && failures.isEmpty { return nil }
    }

    /// Adds the capture's ticks: each receiver named, and each bot's inputs as the ticks show them.
    mutating func attach(_ figures: [GameTickFigures], peerByAddress: [String: String]) {
        ticks = figures.map { figure in
            var named = figure
            named.receiverName = peerByAddress[HostPort(figure.receiver)?.host ?? figure.receiver]
            return named
        }
        // The last tick any receiver got holds every player's latest inputs.
        let last = ticks.max { $0.lastTick < $1.lastTick }
        for index in clients.indices {
            let shown =
                last?.players.first { $0.id == clients[index].player }?.lastInput
                ?? ticks.compactMap { $0.players.first { $0.id == clients[index].player }?.lastInput }.max()
            clients[index].captureLastInput = shown
            clients[index].captureUnapplied = shown.map { max(0, clients[index].inputsSent - $0) }
        }
    }
}
