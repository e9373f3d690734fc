import ControlProtocol
import GameWire
import GameWorld
import OverlayCore
import PeerNode
import ServiceRuntime

/// Game bots in a peer (`client` commands of kind `game`): each plays one world by its seeded
/// script and, when the peer ends, reports what it saw in a `game-bot` event.
public actor GameBots: PeerApplication {
    private var bots: [String: GameBot] = [:]

    /// Work that outlives the call that starts it (the bots' registry lookups): each runs as a
    /// child of `run(peer:)`.
    private let jobs = ChildJobs()

    public init() {}

    public func run(peer: PeerContext) async {
        await jobs.run()
    }

    /// Parameters: `inputs` (how many, default 100), `every` (seconds between them, default
    /// 0.1), `seed` (its script; default: drawn from the peer's seed, so every bot plays its own).
    public func obey(_ command: PeerCommand, peer: PeerContext) async -> Bool {
        guard case .client(let service, let kind, _, let parameters) = command, kind == GameWorld.kind else {
            return false
        }
        let known: Set<String> = ["inputs", "every", "seed"]
        if let unknown = parameters.keys.sorted().first(where: { !known.contains($0) }) {
            peer.emit(.serviceFailed(service: service, reason: "a game bot takes no parameter '\(unknown)'"))
            return true
        }
        let every = parameters["every"]?.double ?? 0.1
        guard let inputs = UInt32(exactly: parameters["inputs"]?.double ?? 100), inputs > 0, every >= 0.01,
            every <= 3600,
            let seed = parameters["seed"].map({ $0.double.flatMap(UInt64.init(exactly:)) })
                ?? Self.seed(of: service, peer: peer)
        else {
            peer.emit(.serviceFailed(service: service, reason: "malformed game bot parameters: \(parameters)"))
            return true
        }
        guard bots[service] == nil else {
            peer.emit(.serviceFailed(service: service, reason: "this peer plays \(service) already"))
            return true
        }
        do {
            let bot = try await GameBot.play(
                as: peer.name.description, address: peer.address, inputs: inputs,
                every: .milliseconds(Int64(every * 1000)),
                seed: seed,
                group: peer.group, logger: peer.logger,
                resolve: { [jobs] answer in jobs.spawn { answer(await peer.resolve(service)?.hosts.first) } })
            bots[service] = bot
            let joined = await bot.whereabouts()
            peer.emit(
                .clientJoined(
                    service: service, participant: Int(joined.player), control: joined.control, data: joined.data,
                    local: bot.connection.localDataAddress))
        } catch {
            peer.emit(.serviceFailed(service: service, reason: "cannot join: \(error)"))
        }
        return true
    }

    /// A bot's own stream of the peer's seed.
    static func seed(of service: String, peer: PeerContext) -> UInt64 {
        var generator = SeededGenerator(seed: peer.seed).derived("game bot \(service)")
        return generator.next()
    }

    public func finish(peer: PeerContext) async {
        for (service, bot) in bots.sorted(by: { $0.key < $1.key }) {
            let tally = await bot.finish()
            peer.emit(GameEvent.bot(service: service, local: bot.connection.localDataAddress, tally: tally).event)
            let rejected = await bot.connection.closingRejections()
            if !rejected.isEmpty { peer.emit(.rejected(counts: rejected)) }
        }
        bots = [:]
        jobs.finish()
    }
}
