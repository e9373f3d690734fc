/// The `peer` executable: one overlay peer, started by the coordinator (`testbed`) with its
/// name, address and ports. Commands arrive on stdin and events leave on stdout as JSON Lines;
/// logs go to stderr. It ends on `leave` or `shutdown`, within a second of stdin closing, on
/// SIGTERM/SIGINT, and by SIGKILL from the kernel if its coordinator dies (parent-death signal).
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
enum Peer {
    static func main() async {
        let arguments: PeerArguments
        do {
            guard let parsed = try PeerArguments.parse(Array(CommandLine.arguments.dropFirst())) else {
                print(PeerArguments.usage)
                return
            }
            arguments = parsed
        } catch {
            fail("Error: \(error)\n\(PeerArguments.usage)", status: 64)
        }
        await run(arguments)
    }

    /// Says why on stderr and exits with `status`.
    static func fail(_ message: String, status: Int32) -> Never {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        exit(status)
    }

    static func run(_ arguments: PeerArguments) async {
        // The control channel is watched with epoll, which refuses regular files and devices
        // like /dev/null: refuse them here with a sentence rather than fail inside NIO.
        for (descriptor, stream) in [(STDIN_FILENO, "stdin"), (STDOUT_FILENO, "stdout")] {
            var status = stat()
            let kind = fstat(descriptor, &status) == 0 ? status.st_mode & S_IFMT : 0
            guard kind == S_IFIFO || kind == S_IFSOCK || isatty(descriptor) == 1 else {
                fail(
                    "Error: \(stream) must be a pipe, a socket or a terminal: the peer is driven over JSON Lines by testbed",
                    status: 64)
            }
        }
        // Second line of defence after stdin EOF: die with the coordinator. The signal is tied
        // to the thread that spawned us, so the coordinator spawns from one long-lived thread.
        _ = seamless_set_parent_death_signal(SIGKILL)
        if let coordinatorPid = arguments.coordinatorPid, getppid() != coordinatorPid { return }
        signal(SIGPIPE, SIG_IGN)

        let peerName = arguments.name
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = arguments.logLevel
            return handler
        }
        let logger = Logger(label: peerName.description)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var dht = ChordConfiguration()
        func interval(_ seconds: Double?) -> Duration? { seconds.map { .milliseconds(Int64($0 * 1000)) } }
        if let value = interval(arguments.stabilizeInterval) { dht.stabilizeInterval = value }
        if let value = interval(arguments.fixFingersInterval) { dht.fixFingersInterval = value }
        if let value = interval(arguments.checkPredecessorInterval) { dht.checkPredecessorInterval = value }
        if let value = interval(arguments.replicateInterval) { dht.replicateInterval = value }
        if let value = interval(arguments.requestTimeout) { dht.requestTimeout = value }
        if let successors = arguments.successors { dht.successorListLength = successors }
        var configuration = PeerConfiguration(
            name: peerName, address: arguments.address, tcpPort: arguments.tcpPort, udpPort: arguments.udpPort)
        configuration.dht = dht
        configuration.seed = arguments.seed
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
            exit(1)
        }
        try? await group.shutdownGracefully()
    }
}
