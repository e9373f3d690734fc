import GameWire
import GameWorld
import Logging
import NIOCore
import OverlayCore
import ServiceRuntime

/// A player of a game world, played by a seeded script: joins through a `ServiceClient` (the
/// persistent connection that follows the world when it moves), sends `inputs` inputs one
/// every `interval` with moves drawn from `seed`, and counts the ticks it receives. Everything it
/// holds lives on its connection's event loop.
public final class GameBot: @unchecked Sendable {
    /// Why a bot could not join.
    public enum JoinError: Error, CustomStringConvertible {
        case refused(String)
        case noWelcome

        public var description: String {
            switch self {
            case .refused(let reason): "the world refused: \(reason)"
            case .noWelcome: "no welcome from the world within \(GameBot.joinTimeout)"
            }
        }
    }

    public static let joinTimeout: Duration = .seconds(5)

    let connection: ServiceClient
    var loop: any EventLoop { connection.loop }
    private let inputs: UInt32
    private let interval: Duration
    private let logger: Logger
    // Below: touched on `loop` only.
    private var random: SeededGenerator
    private var tally = GameBotTally()
    private var seen: Set<UInt32> = []
    private var welcome: EventLoopPromise<GameMessage>?
    private var playing: RepeatedTask?

    private init(connection: ServiceClient, inputs: UInt32, interval: Duration, seed: UInt64, logger: Logger) {
        self.connection = connection
        self.inputs = inputs
        self.interval = interval
        self.random = SeededGenerator(seed: seed)
        self.logger = logger
    }

    /// Binds a data socket on `address`, joins the world `resolve` finds as `name`, and starts
    /// playing.
    public static func play(
        as name: String, address: String, inputs: UInt32, every interval: Duration, seed: UInt64,
        group: any EventLoopGroup, logger: Logger, resolve: @escaping ServiceClient.Resolver
    ) async throws -> GameBot {
        let connection = try await ServiceClient.bind(
            as: name, address: address, group: group, logger: logger, resolve: resolve)
        let bot = GameBot(connection: connection, inputs: inputs, interval: interval, seed: seed, logger: logger)
        let loop = connection.loop
        do {
            let answer = try await loop.submit { () -> EventLoopFuture<GameMessage> in
                let promise = loop.makePromise(of: GameMessage.self)
                bot.welcome = promise
                loop.scheduleTask(in: TimeAmount(joinTimeout)) {
                    guard let waiting = bot.welcome else { return }
                    bot.welcome = nil
                    waiting.fail(JoinError.noWelcome)
                }
                connection.start(ServiceClient.Handlers(pushed: { bot.pushed($0) }, datagram: { bot.datagram($0) }))
                connection.request(GameMessage.join(name: name, dataAddress: connection.localDataAddress).frame)
                return promise.futureResult
            }.get().get()
            if case .refused(let reason) = answer { throw JoinError.refused(reason) }
        } catch {
            await connection.close()
            throw error
        }
        try await loop.submit { bot.startPlaying() }.get()
        return bot
    }

    /// The bot's player id, and the world's control channel and data socket now (`ip:port`).
    public func whereabouts() async -> (player: UInt32, control: String, data: String) {
        (try? await loop.submit { (self.tally.player, self.connection.controlAddress, self.connection.dataAddress) }
            .get()) ?? (0, "", "")
    }

    /// Stops playing, leaves the world, closes the connection, and says what the bot saw.
    public func finish() async -> GameBotTally {
        let tally =
            (try? await loop.submit { () -> GameBotTally in
                self.playing?.cancel()
                self.playing = nil
                self.connection.request(GameMessage.leave.frame)
                return self.tally
            }.get()) ?? GameBotTally()
        await connection.close()
        return tally
    }

    // MARK: On the loop

    private func startPlaying() {
        playing = loop.scheduleRepeatedTask(initialDelay: TimeAmount(interval), delay: TimeAmount(interval)) {
            [self] task in
            guard tally.inputsSent < inputs else { return task.cancel() }
            tally.inputsSent += 1
            let dx = Int8(Int(random.next() % 3) - 1)
            let dy = Int8(Int(random.next() % 3) - 1)
            connection.request(GameMessage.input(number: tally.inputsSent, dx: dx, dy: dy).frame)
        }
    }

    func pushed(_ body: [UInt8]) {
        let message: GameMessage
        do {
            message = try GameMessage(frame: body)
        } catch {
            return logger.warning("malformed message from the world: \(error)")
        }
        switch message {
        case .welcome(let player, _):
            tally.player = player
            welcome?.succeed(message)
            welcome = nil
        case .refused(let reason):
            welcome?.succeed(message)
            welcome = nil
            logger.warning("the world refused: \(reason)")
        case .join, .input, .leave:
            logger.warning("the world sent a player's request: \(message)")
        }
    }

    func datagram(_ buffer: ByteBuffer) {
        let tick: GameTick
        do {
            tick = try buffer.withUnsafeReadableBytes { bytes throws(GameTick.DecodingError) in
                try GameTick(bytes: bytes)
            }
        } catch {
            tally.malformed += 1
            return
        }
        guard seen.insert(tick.tick).inserted else {
            tally.duplicates += 1
            return
        }
        tally.ticks += 1
        if tally.firstTick == nil { tally.firstTick = tick.tick }
        if tick.tick < tally.lastTick { tally.reordered += 1 }
        tally.lastTick = max(tally.lastTick, tick.tick)
        if let me = tick.players.first(where: { $0.id == tally.player }) {
            tally.lastInputSeen = max(tally.lastInputSeen, me.lastInput)
        }
    }
}
