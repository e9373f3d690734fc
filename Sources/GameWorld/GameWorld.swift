import GameWire
import Mobility
import OverlayCore

/// A multiplayer game server as a protocol participant, without I/O: an authoritative world of
/// players that ticks 20 times a second. Clients join and send inputs over their sessions (each
/// applied once, in order, and reported with the tick it takes effect in); every tick every
/// player gets the world (`GameTick`) over UDP. Its `state` is the whole movable state: tick,
/// positions, scores, inputs applied, sessions.
public struct GameWorld: MobileService {
    public static let kind = GameEvent.kind
    /// 2: sessions have 128-bit ids and tokens.
    public static let version: UInt32 = 2
    public static let tickInterval: Duration? = .milliseconds(50)
    /// Players send no datagrams: nothing to put back in order.
    public static func sequenceNumber(ofDatagram bytes: UnsafeRawBufferPointer) -> UInt16? { nil }

    /// What the world tells the peer it runs in.
    public enum Event: Sendable, Equatable {
        case joined(GamePlayer)
        case left(GamePlayer)
        /// Input `input` of `player` was applied; it takes effect in tick `tick`.
        case inputApplied(player: UInt32, input: UInt32, tick: UInt32)
    }

    public typealias Output = ServiceOutput<Event>

    /// Where players send data: this host's UDP socket, `ip:port` (they send none; the session
    /// layer tells them anyway).
    public let dataAddress: String
    public private(set) var state: GameState
    public var journaling = false
    /// Datagrams that reached the world (players send none).
    public private(set) var strayDatagrams = 0
    private var channels = SessionChannels()
    private var secrets: SessionSecrets
    private var journal: [Output] = []

    public init(dataAddress: String, secrets: SessionSecrets) {
        self.init(dataAddress: dataAddress, state: GameState(), secrets: secrets)
    }

    public init(snapshot: [UInt8], dataAddress: String, secrets: SessionSecrets) throws {
        self.init(dataAddress: dataAddress, state: try GameState(snapshot: snapshot), secrets: secrets)
    }

    public init(dataAddress: String, state: GameState, secrets: SessionSecrets) {
        self.dataAddress = dataAddress
        self.state = state
        self.secrets = secrets
    }

    public var snapshot: [UInt8] { state.snapshot }
    public var sequence: UInt64 { state.sequence }

    public func session(on connection: ServiceConnection) -> SessionID? { channels.session(on: connection) }
    public var droppedResumes: Int { channels.droppedResumes }
    public var clientDataAddresses: [String] { state.players.map(\.dataAddress) }

    public mutating func replay(_ operation: [UInt8]) throws {
        try state.apply(try GameOperation(bytes: operation))
    }

    public mutating func handle(_ input: ServiceInput) -> [Output] {
        let outputs: [Output]
        switch input {
        case .message(let connection, let message):
            outputs = receive(message, on: connection, session: nil)
        case .late(let session, let message):
            outputs = receive(message, on: nil, session: session)
        case .disconnected(let connection):
            channels.closed(connection)
            outputs = []
        case .tick:
            apply(.tick)
            let tick = GameTick(
                tick: state.tick,
                players: state.players.map {
                    GameTick.Player(
                        id: $0.id, x: $0.x, y: $0.y, score: $0.score, lastInput: $0.lastInput,
                        inputsApplied: $0.inputsApplied)
                })
            outputs = state.players.isEmpty ? [] : [.datagram(tick.bytes, to: state.players.map(\.dataAddress))]
        }
        guard journaling, !journal.isEmpty else { return outputs }
        defer { journal = [] }
        return journal + outputs
    }

    public mutating func receive(datagram bytes: UnsafeRawBufferPointer, from sender: String) -> [Output] {
        strayDatagrams += 1
        return []
    }

    // MARK: Sessions and requests

    /// `connection` is nil for late messages: answers go to the session's channel, if any.
    private mutating func receive(_ message: SessionMessage, on connection: ServiceConnection?, session: SessionID?)
        -> [Output]
    {
        let (steps, changed, _) = channels.receive(
            message, on: connection, late: session, table: state.sessions, dataAddress: dataAddress,
            secrets: &secrets)
        var outputs: [Output] = []
        for (id, value) in changed {
            apply(.session(id: id, value))
            // A session the table forgot to make room takes its player along.
            if value == nil, let orphan = state.players.first(where: { $0.session == id }) {
                apply(.leave(player: orphan.id))
                outputs.append(.emit(.left(orphan)))
            }
        }
        return outputs
            + steps.flatMap { step -> [Output] in
                switch step {
                case .reply(let connection, let reply): [.send(to: connection, reply)]
                case .apply(let session, let body): request(body, session: session)
                }
            }
    }

    private func push(_ message: GameMessage, to session: SessionID) -> [Output] {
        channels.connection(carrying: session).map { [.send(to: $0, .push(body: message.frame))] } ?? []
    }

    private mutating func request(_ body: [UInt8], session: SessionID) -> [Output] {
        let message: GameMessage
        do {
            message = try GameMessage(frame: body)
        } catch {
            return push(.refused(reason: "\(error)"), to: session)
        }
        let current = state.players.first { $0.session == session }
        switch message {
        case .join(let name, let address):
            if current != nil { return push(.refused(reason: "this session already joined"), to: session) }
            if state.players.contains(where: { $0.dataAddress == address }) {
                return push(.refused(reason: "another player receives at \(address)"), to: session)
            }
            guard state.players.count < GameTick.maximumPlayers, state.nextPlayer < .max else {
                return push(.refused(reason: "the world is full (\(GameTick.maximumPlayers))"), to: session)
            }
            let player = GamePlayer(id: state.nextPlayer, name: name, dataAddress: address, session: session)
            apply(.join(player))
            return push(.welcome(player: player.id, tick: state.tick), to: session) + [.emit(.joined(player))]
        case .input(let number, let dx, let dy):
            guard let current else { return push(.refused(reason: "not joined"), to: session) }
            guard number > current.lastInput else {
                return push(.refused(reason: "input \(number) after input \(current.lastInput)"), to: session)
            }
            apply(.input(player: current.id, number: number, dx: dx, dy: dy))
            return [.emit(.inputApplied(player: current.id, input: number, tick: state.tick &+ 1))]
        case .leave:
            guard let current else { return push(.refused(reason: "not joined"), to: session) }
            apply(.leave(player: current.id))
            return [.emit(.left(current))]
        case .welcome, .refused:
            return push(.refused(reason: "not a request"), to: session)
        }
    }

    /// Every state change goes through here. The world only makes operations that fit.
    private mutating func apply(_ operation: GameOperation) {
        let sequence: UInt64
        do {
            sequence = try state.apply(operation)
        } catch {
            preconditionFailure("the world made an operation its own state rejects: \(error)")
        }
        if journaling { journal.append(.changed(sequence: sequence, operation: operation.bytes)) }
    }
}
