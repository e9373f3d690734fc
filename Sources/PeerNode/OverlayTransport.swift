import Logging
import NIOCore
import NIOExtras
import NIOPosix
import OverlayCore
import Synchronization

/// The overlay's connections between peers, shared by every protocol on it: one TCP connection
/// per pair of peers, carrying both directions, so an answer and the ACK of its request share a
/// segment. The first frame to a peer opens a connection from this peer's own address (the
/// capture sees which peer sent what), whose first frame is an `OverlayHello` naming this
/// peer's listener; a peer that accepts a connection with a hello from the address it came
/// from sends its own frames to that listener on it. Frames in, from either kind, go to
/// `frames`. A connection that fails is dropped and reported on `lostLinks`; one the other side
/// closed is dropped; the next frame to that peer opens a new one.
final class OverlayTransport: Sendable {
    static let lengthPrefix = 2
    static let maximumFrame = 65535
    /// Frames a connection holds for its peer before it drops the oldest (while it connects)
    /// or refuses new ones (while the peer reads too slowly).
    static let queueLimit = 4096

    private let host: String
    private let group: any EventLoopGroup
    private let logger: Logger
    private let frames: AsyncStream<[UInt8]>.Continuation

    /// A peer's connection that carries this peer's frames to it.
    private struct Link {
        /// Tells the connection from a later one to the same peer.
        var number: UInt64
        /// Nil while it connects.
        var channel: (any Channel)?
        /// Frames sent while it connects, in order.
        var waiting: [[UInt8]] = []
        /// Frames handed to the channel and not yet written to the socket.
        var unwritten = 0
        /// The last frame handed to the channel: the connection closes after it.
        var lastWrite: EventLoopFuture<Void>?
    }
    private struct State {
        /// Where this peer listens (its hello), once bound.
        var listener: HostPort?
        var links: [HostPort: Link] = [:]
        /// Every open connection, either kind, by number, so closing reaches them all.
        var connections: [UInt64: any Channel] = [:]
        var opened: UInt64 = 0
        var closed = false
        var refusedHellos = 0
        var droppedFrames = 0
    }
    private let state = Mutex(State())
    /// Peers whose connection failed (refused, reset, timed out), in order.
    let lostLinks: AsyncStream<HostPort>
    private let lostSink: AsyncStream<HostPort>.Continuation

    /// A transport for the peer at `host`, handing every frame that comes in to `frames`.
    init(host: String, group: any EventLoopGroup, logger: Logger, frames: AsyncStream<[UInt8]>.Continuation) {
        self.host = host
        self.group = group
        self.logger = logger
        self.frames = frames
        (lostLinks, lostSink) = AsyncStream<HostPort>.makeStream()
    }

    /// Where this peer's overlay listener is bound: what its hellos say.
    func listening(on listener: HostPort) {
        state.withLock { $0.listener = listener }
    }

    /// The handlers of a connection the listener accepted, in pipeline order.
    func acceptedConnectionHandlers(_ channel: any Channel) -> [any ChannelHandler] {
        let number = admit(channel)
        return [
            ByteToMessageHandler(LengthFieldBasedFrameDecoder(lengthFieldBitLength: .twoBytes)),
            LengthFieldPrepender(lengthFieldBitLength: .twoBytes),
            LinkHandler(transport: self, number: number, peer: nil),
        ]
    }

    /// Queues `frame` (an enveloped overlay frame) for the peer at `destination`, in order with
    /// the other frames to it. Says false when it cannot go: too large, the transport closed,
    /// or the peer's connection holds `queueLimit` frames it has not written yet.
    @discardableResult
    func send(_ frame: [UInt8], to destination: HostPort) -> Bool {
        guard frame.count <= Self.maximumFrame else {
            logger.error("not sent: a \(frame.count)-byte overlay frame to \(destination)")
            return false
        }
        enum Next { case refuse, queued, connect(UInt64), write(any Channel, EventLoopPromise<Void>, UInt64) }
        let next = state.withLock { state -> Next in
            guard !state.closed else { return .refuse }
            // Scalars only: a copy of the link would hold its waiting frames and make every
            // append below copy them.
            guard let link = state.links[destination].map({ ($0.number, $0.channel, $0.waiting.count, $0.unwritten) })
            else {
                state.opened += 1
                state.links[destination] = Link(number: state.opened, waiting: [frame])
                return .connect(state.opened)
            }
            guard let channel = link.1 else {
                if link.2 >= Self.queueLimit {
                    state.links[destination]?.waiting.removeFirst()
                    state.droppedFrames += 1
                }
                state.links[destination]?.waiting.append(frame)
                return .queued
            }
            guard link.3 < Self.queueLimit else {
                state.droppedFrames += 1
                return .refuse
            }
            let written = channel.eventLoop.makePromise(of: Void.self)
            state.links[destination]?.unwritten += 1
            state.links[destination]?.lastWrite = written.futureResult
            return .write(channel, written, link.0)
        }
        switch next {
        case .refuse: return false
        case .queued: return true
        case .connect(let number): connect(to: destination, number: number)
        case .write(let channel, let written, let number): write(frame, on: channel, to: destination, number, written)
        }
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

    /// Sends nothing more and accepts nothing more: every connection closes once the frames
    /// handed to it are written, and this waits up to `grace` for that; frames still waiting
    /// for a connection are dropped.
    func close(grace: Duration) async {
        let closed = state.withLock { state -> [EventLoopFuture<Void>] in
            state.closed = true
            var lastWrites: [UInt64: EventLoopFuture<Void>] = [:]
            for link in state.links.values { lastWrites[link.number] = link.lastWrite }
            state.links = [:]
            return state.connections.map { number, channel in
                let written = lastWrites[number] ?? channel.eventLoop.makeSucceededVoidFuture()
                written.whenComplete { _ in channel.close(promise: nil) }
                return channel.closeFuture
            }
        }
        let done = Atomic(false)
        EventLoopFuture.andAllComplete(closed, on: group.any()).whenComplete { _ in
            done.store(true, ordering: .releasing)
        }
        let deadline = ContinuousClock.now + grace
        while !done.load(ordering: .acquiring), ContinuousClock.now < deadline {
            guard (try? await Task.sleep(for: .milliseconds(10))) != nil else { break }
        }
        let (refused, dropped, stillOpen) = state.withLock {
            ($0.refusedHellos, $0.droppedFrames, Array($0.connections.values))
        }
        for channel in stillOpen { channel.close(mode: .all, promise: nil) }
        lostSink.finish()
        if refused + dropped > 0 {
            logger.info("overlay transport: refused \(refused) connections for their hello, dropped \(dropped) frames")
        }
    }

    // MARK: Connections

    private func connect(to destination: HostPort, number: UInt64) {
        var bootstrap = ClientBootstrap(group: group).connectTimeout(.milliseconds(500))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)  // see OverlaySockets
        if let local = try? SocketAddress(ipAddress: host, port: 0) { bootstrap = bootstrap.bind(to: local) }
        bootstrap = bootstrap.channelInitializer { [self] channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers([
                    ByteToMessageHandler(LengthFieldBasedFrameDecoder(lengthFieldBitLength: .twoBytes)),
                    LengthFieldPrepender(lengthFieldBitLength: .twoBytes),
                    LinkHandler(transport: self, number: number, peer: destination),
                ])
            }
        }
        // An address connects directly; only a name goes through the resolver (getaddrinfo and
        // Happy Eyeballs cost a peer a tenth of its time while it meets new nodes).
        let connecting =
            if let address = try? SocketAddress(ipAddress: destination.host, port: Int(destination.port)) {
                bootstrap.connect(to: address)
            } else {
                bootstrap.connect(host: destination.host, port: Int(destination.port))
            }
        connecting.whenComplete { [self] result in
            switch result {
            case .success(let channel): opened(channel, to: destination, number: number)
            case .failure(let error): failed(destination, number: number, error)
            }
        }
    }

    /// On the connection's event loop: the hello, then the frames that waited, go out before
    /// any frame a sender hands the channel from now on (those queue behind this task).
    private func opened(_ channel: any Channel, to destination: HostPort, number: UInt64) {
        let taken = state.withLock { state -> (waiting: [[UInt8]], hello: HostPort, written: EventLoopPromise<Void>)? in
            guard !state.closed, var link = state.links[destination], link.number == number,
                let listener = state.listener
            else { return nil }
            state.connections[number] = channel
            let written = channel.eventLoop.makePromise(of: Void.self)
            let waiting = link.waiting
            link.channel = channel
            link.waiting = []
            link.unwritten = 1
            link.lastWrite = written.futureResult
            state.links[destination] = link
            return (waiting, listener, written)
        }
        guard let taken else { return channel.close(promise: nil) }
        var frames = [OverlayHello(listener: taken.hello).frame] + taken.waiting
        let last = frames.removeLast()
        for frame in frames { channel.write(ByteBuffer(bytes: frame), promise: nil) }
        channel.writeAndFlush(ByteBuffer(bytes: last), promise: taken.written)
        taken.written.futureResult.whenComplete { [self] in written(destination, number: number, $0) }
    }

    private func write(
        _ frame: [UInt8], on channel: any Channel, to destination: HostPort, _ number: UInt64,
        _ written: EventLoopPromise<Void>
    ) {
        channel.writeAndFlush(ByteBuffer(bytes: frame), promise: written)
        written.futureResult.whenComplete { [self] in self.written(destination, number: number, $0) }
    }

    /// A frame handed to the channel was written, or failed to be (which loses the peer).
    private func written(_ destination: HostPort, number: UInt64, _ result: Result<Void, any Error>) {
        state.withLock { state in
            if state.links[destination]?.number == number { state.links[destination]?.unwritten -= 1 }
        }
        if case .failure(let error) = result { failed(destination, number: number, error) }
    }

    /// A connection gets its number before it is active, so closing finds it.
    fileprivate func admit(_ channel: any Channel) -> UInt64 {
        state.withLock { state in
            state.opened += 1
            if state.closed {
                channel.close(promise: nil)
            } else {
                state.connections[state.opened] = channel
            }
            return state.opened
        }
    }

    /// An accepted connection said hello: it carries this peer's frames to `peer` too, unless
    /// another connection already does. Refused (closed) when the hello names a host the
    /// connection did not come from.
    fileprivate func greeted(by hello: OverlayHello, on channel: any Channel, number: UInt64) -> Bool {
        guard channel.remoteAddress?.ipAddress == hello.listener.host else {
            refused(channel, "its hello names \(hello.listener)")
            return false
        }
        state.withLock { state in
            guard !state.closed, state.links[hello.listener] == nil else { return }
            state.links[hello.listener] = Link(number: number, channel: channel)
        }
        return true
    }

    fileprivate func received(_ frame: [UInt8]) { frames.yield(frame) }

    /// An accepted connection that did not start with a hello from where it came from: counted,
    /// and the handler closes it.
    fileprivate func refused(_ channel: any Channel, _ reason: String) {
        state.withLock { $0.refusedHellos += 1 }
        logger.warning("refused an overlay connection from \(channel.remoteAddress?.description ?? "?"): \(reason)")
    }

    /// The connection ended: the other side closed it (nil `error`) or it failed, which
    /// reports its peer lost.
    fileprivate func ended(_ number: UInt64, peer: HostPort?, _ error: (any Error)?) {
        state.withLock { $0.connections[number] = nil }
        guard let peer else { return }
        if let error { return failed(peer, number: number, error) }
        state.withLock { state in
            if state.links[peer]?.number == number { state.links[peer] = nil }
        }
    }

    /// The connection `number` to `destination` could not be opened or failed: the peer is lost.
    private func failed(_ destination: HostPort, number: UInt64, _ error: any Error) {
        logger.debug("overlay connection to \(destination) failed: \(error)")
        let mine = state.withLock { state in
            guard state.links[destination]?.number == number else { return false }
            state.links[destination] = nil
            return true
        }
        if mine { lostSink.yield(destination) }
    }
}

/// One overlay connection's frames in: on an accepted connection the first must be a hello
/// (`peer` is nil until then), every other goes to the transport's frames.
private final class LinkHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let transport: OverlayTransport
    private let number: UInt64
    private var peer: HostPort?
    /// Set once the connection was refused: what still comes on it is not read.
    private var refused = false
    private var failure: (any Error)?

    init(transport: OverlayTransport, number: UInt64, peer: HostPort?) {
        self.transport = transport
        self.number = number
        self.peer = peer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let frame = buffer.readBytes(length: buffer.readableBytes) ?? []
        guard !refused else { return }
        guard peer != nil else {
            peer = greeting(frame, on: context.channel)
            if peer == nil {
                refused = true
                context.close(promise: nil)
            }
            return
        }
        transport.received(frame)
    }

    /// The listener the first frame of an accepted connection names, or nil when the transport
    /// refuses it.
    private func greeting(_ frame: [UInt8], on channel: any Channel) -> HostPort? {
        do {
            let hello = try OverlayHello(frame: frame)
            return transport.greeted(by: hello, on: channel, number: number) ? hello.listener : nil
        } catch {
            transport.refused(channel, "its first frame is no hello: \(error)")
            return nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failure = error
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        transport.ended(number, peer: peer, failure)
        context.fireChannelInactive()
    }
}
