import Logging
import Mobility
import NIOCore
import NIOExtras
import NIOPosix

/// A client's persistent connection to a service, of any kind: a TCP control channel that follows
/// the service when it moves (session, resume token, redirect, re-resolve and backoff, see
/// `ServiceConnectionStateMachine`) and a UDP data socket that sends to wherever the service is
/// now. The kind's own client sits on top: it sends requests, hears the service's pushes and
/// datagrams, and never sees a move. Everything it holds lives on one event loop; the methods
/// marked so are called on it.
public final class ServiceClient: @unchecked Sendable {
    /// Finds the service's control address (the registry, in a peer) and hands it to the
    /// callback, nil if there is none; the owner does the looking up, in its own tasks.
    public typealias Resolver = @Sendable (_ answer: @escaping @Sendable (String?) -> Void) -> Void

    /// What the kind's client hears, on the loop: a message of the service from inside the
    /// session, and a datagram from the service.
    public struct Handlers {
        public var pushed: ([UInt8]) -> Void
        public var datagram: (ByteBuffer) -> Void

        public init(pushed: @escaping ([UInt8]) -> Void, datagram: @escaping (ByteBuffer) -> Void) {
            self.pushed = pushed
            self.datagram = datagram
        }
    }

    public let name: String
    /// `ip:port` of this client's data socket.
    public let localDataAddress: String
    public let loop: any EventLoop
    private let logger: Logger
    private let resolve: Resolver
    private let box: OwnerSlot<ServiceClient>
    // Below: touched on `loop` only.
    private var connection: ServiceConnectionStateMachine
    private var channels: [ServiceConnectionStateMachine.Channel: any Channel] = [:]
    private var timers: [ServiceConnectionStateMachine.Timer: Scheduled<Void>] = [:]
    private var data: (any Channel)?
    private var handlers: Handlers?
    private var serviceData: SocketAddress?
    private var closed = false
    /// `ip:port` of the service's control channel and data socket now; they change when it moves.
    public private(set) var controlAddress = ""
    public private(set) var dataAddress = ""
    /// How often the connection moved to another host.
    public private(set) var moves = 0
    /// Frames on the control channel that did not read as session messages.
    public private(set) var malformedControl = 0
    /// Datagrams from senders that are not the service's, held until one becomes it.
    private var strangers = DatagramQuarantine<ByteBuffer>()
    /// On the loop: datagrams dropped unplayed because their sender never became the service's.
    public var strangerDatagrams: Int {
        loop.assertInEventLoop()
        return strangers.dropped
    }

    private init(
        name: String, localDataAddress: String, loop: any EventLoop, box: OwnerSlot<ServiceClient>, logger: Logger,
        resolve: @escaping Resolver
    ) {
        self.name = name
        self.localDataAddress = localDataAddress
        self.loop = loop
        self.box = box
        self.logger = logger
        self.resolve = resolve
        connection = ServiceConnectionStateMachine(client: name)
    }

    /// Binds a data socket on `address` (the client's own IP, a port the system chooses); the
    /// connection opens with `start`.
    public static func bind(
        as name: String, address: String, group: any EventLoopGroup, logger: Logger, resolve: @escaping Resolver
    ) async throws -> ServiceClient {
        let loop = group.next()
        let box = OwnerSlot<ServiceClient>()
        let data = try await DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_rcvbuf), value: 1 << 20)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ClientDatagramHandler(box: box))
                }
            }
            .bind(host: address, port: 0).get()
        let client = ServiceClient(
            name: name, localDataAddress: data.localAddress?.endpoint ?? "?", loop: loop, box: box, logger: logger,
            resolve: resolve)
        try await loop.submit {
            client.data = data
            box.owner = client
        }.get()
        return client
    }

    /// On the loop: opens the persistent connection (resolving the service first); from now
    /// on `handlers` hear what the service says.
    public func start(_ handlers: Handlers) {
        loop.assertInEventLoop()
        self.handlers = handlers
        run(.start)
    }

    /// On the loop: sends a request inside the session; it is sent again after a move until
    /// the service applied it, and applied once.
    public func request(_ body: [UInt8]) {
        loop.assertInEventLoop()
        run(.send(body: body))
    }

    /// On the loop: sends a datagram to the service's data socket, wherever it is now (nothing
    /// before the service said where).
    public func send(datagram: ByteBuffer) {
        loop.assertInEventLoop()
        guard let serviceData, let data else { return }
        data.writeAndFlush(AddressedEnvelope(remoteAddress: serviceData, data: datagram), promise: nil)
    }

    /// Closes both channels; nothing is heard after.
    public func close() async {
        let channels =
            (try? await loop.submit { () -> [any Channel] in
                self.closed = true
                self.handlers = nil
                for timer in self.timers.values { timer.cancel() }
                self.timers = [:]
                let all = Array(self.channels.values) + [self.data].compactMap { $0 }
                self.channels = [:]
                self.data = nil
                return all
            }.get()) ?? []
        for channel in channels { try? await channel.close() }
    }

    // MARK: On the loop

    /// Feeds the persistent connection and carries out what it says.
    private func run(_ input: ServiceConnectionStateMachine.Input) {
        guard !closed else { return }
        for output in connection.handle(input) {
            switch output {
            case .resolve:
                resolve { control in self.loop.execute { self.run(.resolved(control: control)) } }
            case .connect(let channel, let control):
                connect(channel, to: control)
            case .close(let channel):
                channels.removeValue(forKey: channel)?.close(promise: nil)
            case .transmit(let channel, let message):
                channels[channel]?.writeAndFlush(ByteBuffer(bytes: message.frame), promise: nil)
            case .setTimer(let timer, let delay):
                timers[timer]?.cancel()
                timers[timer] = loop.scheduleTask(in: TimeAmount(delay)) { [self] in
                    timers[timer] = nil
                    run(.timerFired(timer))
                }
            case .useData(let address):
                dataAddress = address
                serviceData = SocketAddress(endpoint: address)
                for datagram in strangers.release(from: address, at: Self.now()) { handlers?.datagram(datagram) }
            case .deliver(let body):
                handlers?.pushed(body)
            case .moved(let control):
                moves += 1
                controlAddress = control
                logger.info("\(name): the service moved to \(control)")
            }
        }
        if let current = connection.current, current.ready { controlAddress = current.control }
    }

    private func connect(_ channel: ServiceConnectionStateMachine.Channel, to control: String) {
        guard let address = SocketAddress(endpoint: control) else {
            logger.warning("\(name): not an ip:port address: \(control)")
            return run(.closed(channel))
        }
        let box = self.box
        // A lost SYN is retried by the kernel only after a second, and until the client has
        // moved the old host forwards its packets (overhead): give up sooner and try again
        // after the connection's backoff. 250 ms is still several round trips on every shipped
        // link profile.
        var bootstrap = ClientBootstrap(group: loop).connectTimeout(.milliseconds(250))
        // From this client's own address (its peer's), as the data socket.
        if let local = data?.localAddress, let ip = local.ipAddress,
            let from = try? SocketAddress(ipAddress: ip, port: 0)
        {
            bootstrap = bootstrap.bind(to: from)
        }
        bootstrap
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { socket in
                socket.eventLoop.makeCompletedFuture {
                    try socket.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(LengthFieldBasedFrameDecoder(lengthFieldBitLength: .twoBytes)),
                        LengthFieldPrepender(lengthFieldBitLength: .twoBytes),
                        ClientControlHandler(box: box, channel: channel),
                    ])
                }
            }
            .connect(to: address)
            .whenComplete { [self] result in
                switch result {
                case .success(let socket):
                    guard !closed, socket.isActive else {
                        socket.close(promise: nil)
                        return run(.closed(channel))
                    }
                    channels[channel] = socket
                    run(.connected(channel))
                case .failure:
                    run(.closed(channel))
                }
            }
    }

    func controlFrame(_ frame: [UInt8], on channel: ServiceConnectionStateMachine.Channel) {
        loop.assertInEventLoop()
        do {
            run(.message(channel, try SessionMessage(frame: frame)))
        } catch {
            malformedControl += 1
            logger.warning("\(name): malformed control frame from the service: \(error)")
        }
    }

    func controlClosed(_ channel: ServiceConnectionStateMachine.Channel) {
        guard channels.removeValue(forKey: channel) != nil else { return }
        run(.closed(channel))
    }

    /// A datagram on the data socket: a `DataRedirect` from the service's previous host and a
    /// standby's `TakeoverNotice` are the connection's; anything else is the application's.
    func datagram(_ envelope: AddressedEnvelope<ByteBuffer>) {
        loop.assertInEventLoop()
        if envelope.data.withUnsafeReadableBytes(DataRedirect.looksLike),
            let redirect = try? DataRedirect(bytes: Array(buffer: envelope.data))
        {
            return run(.dataMoved(from: envelope.remoteAddress.endpoint, to: redirect.data))
        }
        if envelope.data.withUnsafeReadableBytes(TakeoverNotice.looksLike),
            let notice = try? TakeoverNotice(bytes: Array(buffer: envelope.data))
        {
            return run(.takeover(from: envelope.remoteAddress.endpoint, notice))
        }
        let sender = envelope.remoteAddress.endpoint
        guard connection.expects(dataFrom: sender) else {
            return strangers.hold(envelope.data, from: sender, at: Self.now())
        }
        handlers?.datagram(envelope.data)
    }

    /// What this client refused, by reason (`Event.rejected`), for its end: the strangers'
    /// datagrams still held count as dropped. Empty if nothing.
    public func closingRejections() async -> [String: Int] {
        let strangers =
            (try? await loop.submit {
                self.strangers.dropAll()
                return self.strangers.dropped
            }.get()) ?? 0
        return strangers > 0 ? ["stranger-datagrams": strangers] : [:]
    }

    private static func now() -> Duration { .nanoseconds(Int64(clamping: NIODeadline.now().uptimeNanoseconds)) }
}

/// The client's data socket: every datagram to the client.
final class ClientDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let box: OwnerSlot<ServiceClient>

    init(box: OwnerSlot<ServiceClient>) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        box.owner?.datagram(unwrapInboundIn(data))
    }
}

/// One of the client's control channels (there are two while it moves): frames in, and its end.
final class ClientControlHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let box: OwnerSlot<ServiceClient>
    let channel: ServiceConnectionStateMachine.Channel

    init(box: OwnerSlot<ServiceClient>, channel: ServiceConnectionStateMachine.Channel) {
        self.box = box
        self.channel = channel
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        box.owner?.controlFrame(frame.readBytes(length: frame.readableBytes) ?? [], on: channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        box.owner?.controlClosed(channel)
        context.fireChannelInactive()
    }
}
