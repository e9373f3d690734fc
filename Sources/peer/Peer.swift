/// The `peer` executable: one overlay peer, started by the coordinator (`testbed`) with its
/// name, address and ports. Commands arrive on stdin and events leave on stdout as JSON Lines;
/// logs go to stderr. It ends on `leave` or `shutdown`, within a second of stdin closing, on
/// SIGTERM/SIGINT, and by SIGKILL from the kernel if its coordinator dies (parent-death signal).
import ArgumentParser
import CSeamlessLinux
import DHT
import GameService
import Logging
import NIOPosix
import OverlayCore
import PeerNode
import ServiceLifecycle
import ServiceRuntime
import VoiceService

#if canImport(Glibc)
    import Glibc
#endif

@main
struct Peer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer",
        abstract: "Run one Seamless overlay peer, driven over stdin/stdout by the testbed.")

    @Option(help: "The peer's name, peer-N.")
    var name: String

    @Option(help: "The IP address to bind the overlay sockets on.")
    var address: String

    @Option(help: "The overlay TCP port (0: any).")
    var tcpPort: Int = 0

    @Option(help: "The overlay UDP port (0: any).")
    var udpPort: Int = 0

    @Option(help: "The coordinator's pid: exit at once if the parent is already another process.")
    var coordinatorPid: Int32?

    // The DHT's settings: each left out keeps the DHT's own default (ChordConfiguration).
    @Option(help: "DHT: seconds between stabilization rounds.")
    var stabilizeInterval: Double?

    @Option(help: "DHT: seconds between finger repairs (one finger each).")
    var fixFingersInterval: Double?

    @Option(help: "DHT: seconds between checks of the predecessor.")
    var checkPredecessorInterval: Double?

    @Option(help: "DHT: seconds between replication rounds.")
    var replicateInterval: Double?

    @Option(help: "DHT: seconds a request waits for its answer.")
    var requestTimeout: Double?

    @Option(help: "DHT: successor list length, and copies of each key.")
    var successors: Int?

    @Option(help: "The seed of every random draw the peer makes (testbed derives it from the run's seed and the name).")
    var seed: UInt64 = 1

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard PeerName(name) != nil else { throw ValidationError("--name must be peer-N, not '\(name)'") }
        guard (0...65535).contains(tcpPort), (0...65535).contains(udpPort) else {
            throw ValidationError("ports must be in 0...65535")
        }
        let intervals = [
            stabilizeInterval, fixFingersInterval, checkPredecessorInterval, replicateInterval, requestTimeout,
        ]
        guard intervals.allSatisfy({ $0.map { $0 >= 0.01 && $0 <= 3600 } ?? true }) else {
            throw ValidationError("DHT intervals are seconds from 0.01 to 3600")
        }
        guard successors.map({ (1...32).contains($0) }) ?? true else {
            throw ValidationError("--successors must be from 1 to 32")
        }
    }

    func run() async throws {
        // The control channel is watched with epoll, which refuses regular files and devices
        // like /dev/null: refuse them here with a sentence rather than fail inside NIO.
        for (descriptor, stream) in [(STDIN_FILENO, "stdin"), (STDOUT_FILENO, "stdout")] {
            var status = stat()
            let kind = fstat(descriptor, &status) == 0 ? status.st_mode & S_IFMT : 0
            guard kind == S_IFIFO || kind == S_IFSOCK || isatty(descriptor) == 1 else {
                throw ValidationError(
                    "\(stream) must be a pipe, a socket or a terminal: the peer is driven over JSON Lines by testbed")
            }
        }
        // Second line of defence after stdin EOF: die with the coordinator. The signal is tied
        // to the thread that spawned us, so the coordinator spawns from one long-lived thread.
        _ = seamless_set_parent_death_signal(SIGKILL)
        if let coordinatorPid, getppid() != coordinatorPid { return }
        signal(SIGPIPE, SIG_IGN)

        let peerName = PeerName(name)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: peerName.description)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var dht = ChordConfiguration()
        func interval(_ seconds: Double?) -> Duration? { seconds.map { .milliseconds(Int64($0 * 1000)) } }
        if let value = interval(stabilizeInterval) { dht.stabilizeInterval = value }
        if let value = interval(fixFingersInterval) { dht.fixFingersInterval = value }
        if let value = interval(checkPredecessorInterval) { dht.checkPredecessorInterval = value }
        if let value = interval(replicateInterval) { dht.replicateInterval = value }
        if let value = interval(requestTimeout) { dht.requestTimeout = value }
        if let successors { dht.successorListLength = successors }
        var configuration = PeerConfiguration(name: peerName, address: address, tcpPort: tcpPort, udpPort: udpPort)
        configuration.dht = dht
        configuration.seed = seed
        let node = PeerNode(
            configuration: configuration, group: group, logger: logger,
            applications: [ServiceRuntime(kinds: [.voiceRelay, .game]), VoiceClients(), GameBots()])
        let services = ServiceGroup(
            configuration: .init(
                services: [.init(service: node, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await services.run()
        } catch {
            logger.error("peer failed: \(error)")
            try? await group.shutdownGracefully()
            throw ExitCode(1)
        }
        try await group.shutdownGracefully()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
