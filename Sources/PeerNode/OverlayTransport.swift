import Logging
import NIOCore
import NIOExtras
import NIOPosix
import OverlayCore
import Synchronization

/// The overlay's connections between peers, shared by every protocol on it: frames out over
/// one pooled TCP connection per peer (opened on first use, from the peer's own address, so the
/// capture sees which peer sent what), and frames in handed to their protocol by the envelope's
/// id. A connection that fails is dropped and reported on `lostLinks`; the next frame to that
/// peer opens a new one. Each connection's writer is a child task of `run()`.
final class OverlayTransport: Sendable {
    static let lengthPrefix = 2
    static let maximumFrame = 65535

    private let me: HostPort
    private let group: any EventLoopGroup
    private let logger: Logger
    private struct State {
        /// Each open connection's queue, with a number that tells it from a later one to the
        /// same peer.
        var links: [HostPort: (number: UInt64, queue: AsyncStream<[UInt8]>.Continuation)] = [:]
        var opened: UInt64 = 0
        var writers = 0
        var closed = false
    }
    private let state = Mutex(State())
    private let writerTasks = ChildJobs()
    /// Peers whose connection failed (refused, reset, timed out), in order.
    let lostLinks: AsyncStream<HostPort>
    private let lostSink: AsyncStream<HostPort>.Continuation

    init(me: HostPort, group: any EventLoopGroup, logger: Logger) {
        self.me = me
        self.group = group
        self.logger = logger
        (lostLinks, lostSink) = AsyncStream<HostPort>.makeStream()
    }

    /// Runs the connections' writers until `close` and their last frames are out, or until
    /// the peer cancels it.
    func run() async {
        await writerTasks.run()
        lostSink.finish()
    }

    /// Queues `frame` (an enveloped overlay frame) for the peer at `destination`, in order with
    /// the other frames to it. Says false when it cannot go: too large, or the transport closed.
    @discardableResult
    func send(_ frame: [UInt8], to destination: HostPort) -> Bool {
        guard frame.count <= Self.maximumFrame else {
            logger.error("not sent: a \(frame.count)-byte overlay frame to \(destination)")
            return false
        }
        let queue = state.withLock { state -> AsyncStream<[UInt8]>.Continuation? in
            guard !state.closed else { return nil }
            if let open = state.links[destination] { return open.queue }
            let (frames, queue) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(4096))
            state.opened += 1
            let number = state.opened
            state.links[destination] = (number, queue)
            state.writers += 1
            writerTasks.spawn { [self] in await write(frames, to: destination, number: number) }
            return queue
        }
        guard let queue else { return false }
        queue.yield(frame)
        return true
    }

    /// Hands every frame of `frames` (the overlay listener's) to the handler of its protocol,
    /// and a frame whose envelope names none to `stray`.
    func route(
        _ frames: AsyncStream<[UInt8]>, to handlers: [OverlayProtocol: @Sendable ([UInt8]) async -> Void],
        stray: @Sendable ([UInt8]) async -> Void
    ) async {
        for await frame in frames {
            if let overlay = OverlayProtocol(frame: frame), let handler = handlers[overlay] {
                await handler(frame)
            } else {
                await stray(frame)
            }
        }
    }

    /// Sends nothing more: the frames already queued go out for up to `grace`, then the writers
    /// that are still at it are left to the peer's cancellation.
    func close(grace: Duration) async {
        let queues = state.withLock { state in
            state.closed = true
            defer { state.links = [:] }
            return state.links.values.map(\.queue)
        }
        for queue in queues { queue.finish() }
        writerTasks.finish()
        let deadline = ContinuousClock.now + grace
        while state.withLock({ $0.writers }) > 0, ContinuousClock.now < deadline {
            guard (try? await Task.sleep(for: .milliseconds(10))) != nil else { return }
        }
    }

    private func write(_ frames: AsyncStream<[UInt8]>, to destination: HostPort, number: UInt64) async {
        defer { state.withLock { $0.writers -= 1 } }
        do {
            var bootstrap = ClientBootstrap(group: group).connectTimeout(.milliseconds(500))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)  // see OverlaySockets
            if let local = try? SocketAddress(ipAddress: me.host, port: 0) { bootstrap = bootstrap.bind(to: local) }
            let channel = try await bootstrap.connect(host: destination.host, port: Int(destination.port)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        LengthFieldPrepender(lengthFieldBitLength: .twoBytes))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
            try await channel.executeThenClose { _, outbound in
                for await frame in frames { try await outbound.write(ByteBuffer(bytes: frame)) }
            }
        } catch {
            logger.debug("overlay connection to \(destination) failed: \(error)")
            let dropped = state.withLock { state -> AsyncStream<[UInt8]>.Continuation? in
                guard let link = state.links[destination], link.number == number else { return nil }
                state.links[destination] = nil
                return link.queue
            }
            dropped?.finish()
            lostSink.yield(destination)
        }
    }
}
