/// PeerNode is what runs inside every peer process: the overlay's sockets on the peer's own
/// address, and the control channel to the coordinator on stdin/stdout. It is an adapter at
/// the edge: it turns command lines into actions and actions into event lines; protocol logic
/// lives in the value targets it hosts.
import ControlProtocol
import DHT
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import OverlayCore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where a peer lives on the network, as given on its command line by the launcher.
public struct PeerConfiguration: Sendable, Equatable {
    public var name: PeerName
    /// The peer's own IP address (127.x.y.z on loopback, 10.x.y.z in a namespace).
    public var address: String
    /// The overlay's TCP port (DHT and service control traffic).
    public var tcpPort: Int
    /// The overlay's UDP port (service data).
    public var udpPort: Int
    /// The DHT's rhythm and successor list length.
    public var dht = ChordConfiguration()
    /// The seed of every random draw the peer's applications make (`PeerContext.seed`).
    public var seed: UInt64 = 1

    public init(name: PeerName, address: String, tcpPort: Int, udpPort: Int) {
        self.name = name
        self.address = address
        self.tcpPort = tcpPort
        self.udpPort = udpPort
    }
}

/// One peer process's life: bind, report `ready`, obey commands until `leave`, `shutdown`,
/// the end of stdin (the coordinator is gone) or a graceful-shutdown signal, then return.
public struct PeerNode: Service {
    public let configuration: PeerConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    /// The control channel's descriptors (stdin and stdout of the process, or a test's pipes).
    private let controlInput: CInt
    private let controlOutput: CInt
    /// Service kinds and clients this peer can run, offered every command it does not know.
    private let applications: [any PeerApplication]

    public init(
        configuration: PeerConfiguration, group: any EventLoopGroup, logger: Logger,
        applications: [any PeerApplication] = [], controlInput: CInt = 0, controlOutput: CInt = 1
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.applications = applications
        self.controlInput = controlInput
        self.controlOutput = controlOutput
    }

    public func run() async throws {
        // Half-closure: stdin reaching EOF must not close stdout, so the last events get out.
        let control = try await NIOPipeBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .takingOwnershipOfDescriptors(input: controlInput, output: controlOutput) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await control.executeThenClose { commands, events in
            let emitter = EventEmitter(peer: configuration.name, writer: events)
            let faults = FaultPoints()
            let (frames, framesIn) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(8192))
            let transport = OverlayTransport(
                host: configuration.address, group: group, logger: logger, frames: framesIn)
            do {
                try await OverlaySockets.serving(configuration, group: group, logger: logger, transport: transport) {
                    tcpPort, udpPort in
                    let dht = DHTHost(
                        me: NodeRef(host: configuration.address, port: UInt16(tcpPort)),
                        configuration: configuration.dht, transport: transport, logger: logger,
                        emit: { try? await emitter.emit($0) })
                    // Applications' events queue here and go out in order, each stamped when
                    // it happened, not when its turn to be written came.
                    let (appEvents, appEventSink) = AsyncStream<(Event, Timestamp)>.makeStream()
                    let context = PeerContext(
                        name: configuration.name, seed: configuration.seed, address: configuration.address,
                        overlayAddress: "\(configuration.address):\(tcpPort)", group: group, logger: logger,
                        emit: { event in
                            faults.check(event)
                            appEventSink.yield((event, WallClock.now()))
                        },
                        resolve: { await dht.resolve(service: $0) },
                        register: { await dht.register($0) },
                        withdraw: { await dht.withdraw(service: $0) },
                        sendOverlay: { frame, address in
                            guard let peer = HostPort(address) else {
                                return logger.error("not sent: an overlay frame to '\(address)', not ip:port")
                            }
                            transport.send(frame, to: peer)
                        },
                        neighbours: { await dht.neighbours() })
                    async let appEventsSent: Void = {
                        for await (event, t) in appEvents { try? await emitter.emit(event, at: t) }
                    }()
                    try await withThrowingTaskGroup(of: Void.self) { tasks in
                        for application in applications { tasks.addTask { await application.run(peer: context) } }
                        tasks.addTask { await dht.runTimers() }
                        tasks.addTask { for await peer in transport.lostLinks { await dht.lost(peer) } }
                        tasks.addTask {
                            // Each overlay frame to its protocol, by the envelope's id.
                            await transport.route(
                                frames,
                                to: [
                                    .dht: { await dht.receive(frame: $0) },
                                    .migration: { frame in
                                        for application in applications {
                                            await application.receive(overlayFrame: frame, peer: context)
                                        }
                                    },
                                ], stray: { await dht.dropStray(frame: $0) })
                        }
                        tasks.addTask {
                            // The peer's own DHT counters, every 10 s.
                            while true {
                                try await Task.sleep(for: .seconds(10))
                                try await emitter.emit(await dht.trafficEvent())
                            }
                        }
                        try await emitter.emit(
                            .ready(
                                pid: Int(getpid()), address: configuration.address, tcpPort: tcpPort, udpPort: udpPort))
                        logger.info("ready", metadata: ["tcp": "\(tcpPort)", "udp": "\(udpPort)"])
                        let ending = try await obey(
                            commands, emitter: emitter, dht: dht, context: context, faults: faults)
                        logger.info("ending: \(ending)")
                        if ending.handsOver {
                            for application in applications {
                                await application.handOver(peer: context, within: Self.handoverBound)
                            }
                        }
                        for application in applications { await application.finish(peer: context) }
                        if ending.handsOver { await dht.leave() } else { await dht.closeLinks() }
                        try? await emitter.emit(await dht.trafficEvent())
                        tasks.cancelAll()
                    }
                    appEventSink.finish()
                    await appEventsSent
                }
            } catch let error as IOError {
                // Binding failed (address in use, address not available): say so, then fail.
                try? await emitter.emit(.error(message: "cannot bind \(configuration.address): \(error)"))
                throw error
            }
        }
    }

    /// How long a leaving peer waits for the services it hosts to move (a migration to a peer
    /// that does not answer aborts after 3 s; one that commits releases 2 s after the commit):
    /// the coordinator gives a leave this and 5 s more before it kills the peer.
    public static let handoverBound: Duration = .seconds(8)

    /// Why the command loop ended.
    enum Ending: CustomStringConvertible {
        case left, shutdown, coordinatorGone, gracefulShutdown

        /// A peer told to leave, or sent SIGTERM, hands its services over and leaves the ring;
        /// one told to shut down, or whose coordinator is gone, just stops.
        var handsOver: Bool {
            switch self {
            case .left, .gracefulShutdown: true
            case .shutdown, .coordinatorGone: false
            }
        }

        var description: String {
            switch self {
            case .left: "left the overlay"
            case .shutdown: "shutdown command"
            case .coordinatorGone: "stdin closed (coordinator gone)"
            case .gracefulShutdown: "signal"
            }
        }
    }

    private func obey(
        _ commands: NIOAsyncChannelInboundStream<ByteBuffer>, emitter: EventEmitter, dht: DHTHost,
        context: PeerContext, faults: FaultPoints
    ) async throws -> Ending {
        do {
            return try await cancelWhenGracefulShutdown {
                for try await var line in commands {
                    let text = line.readString(length: line.readableBytes) ?? ""
                    guard !text.allSatisfy(\.isWhitespace) else { continue }
                    let command: PeerCommand
                    do {
                        command = try PeerCommand(line: text)
                    } catch {
                        logger.warning("rejected command line: \(error)")
                        try await emitter.emit(.error(message: "\(error)"))
                        continue
                    }
                    switch command {
                    case .ping(let id):
                        try await emitter.emit(.pong(id: id))
                    case .leave:
                        try await emitter.emit(.leaving)
                        return .left
                    case .shutdown:
                        try await emitter.emit(.stopping(reason: "shutdown"))
                        return .shutdown
                    case .join, .lookup, .register, .resolve:
                        await dht.obey(command)
                    case .faultAt(let service, let phase, let action):
                        faults.arm(service: service, phase: phase, signal: action == "pause" ? SIGSTOP : SIGKILL)
                    case .deploy, .client, .migrate:
                        var taken = false
                        for application in applications where !taken {
                            taken = await application.obey(command, peer: context)
                        }
                        if !taken {
                            try await emitter.emit(
                                .error(message: "this peer runs nothing that takes \(command.line.dropLast())"))
                        }
                    }
                }
                return .coordinatorGone
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            try? await emitter.emit(.stopping(reason: "signal"))
            return .gracefulShutdown
        }
    }
}

/// Faults armed by `fault-at` (fault injection): the peer crashes (SIGKILL) or hangs (SIGSTOP)
/// the moment one of its applications reports that a migration or a failover of the service
/// reached the phase, on the thread that reports it, so the fault falls exactly at the phase
/// and not a scheduling delay later. Each fires once.
final class FaultPoints: Sendable {
    private let armed = Mutex<[(service: String, phase: String, signal: Int32)]>([])

    func arm(service: String, phase: String, signal: Int32) {
        armed.withLock { $0.append((service, phase, signal)) }
    }

    /// Signals this process if `event` is a phase an armed fault waits for.
    func check(_ event: Event) {
        let reached: (service: String, phase: String)
        switch event {
        case .migrationPhase(_, let service, _, _, let phase): reached = (service, phase)
        case .failoverPhase(let service, _, let phase, _): reached = (service, phase)
        default: return
        }
        guard
            let signal = armed.withLock({ armed -> Int32? in
                guard
                    let index = armed.firstIndex(where: { $0.service == reached.service && $0.phase == reached.phase })
                else {
                    return nil
                }
                return armed.remove(at: index).signal
            })
        else { return }
        // To this thread (`raise` is `pthread_kill(pthread_self())`): a stop sent to the process
        // is taken by whichever thread the kernel picks, and this one runs on until that thread
        // stops it (long enough to send the commit it was to be stopped before).
        raise(signal)
    }
}

/// Writes event lines to the control channel, stamped with the wall clock and the peer's name.
struct EventEmitter: Sendable {
    let peer: PeerName
    let writer: NIOAsyncChannelOutboundWriter<ByteBuffer>

    func emit(_ event: Event, at t: Timestamp = WallClock.now()) async throws {
        let line = EventLine(t: t, peer: peer.description, event: event).line
        try await writer.write(ByteBuffer(string: line))
    }
}

extension PeerNode: CustomStringConvertible {
    /// The peer's name. ServiceLifecycle names every service it runs by `"\(service)"`; without
    /// this, that reflects over every stored property, and each type it meets costs a
    /// scan of every protocol conformance in the executable (visible in `perf` at start-up).
    public var description: String { "PeerNode(\(configuration.name))" }
}
