import ControlProtocol
import Logging
import Mobility
import NIOCore
import NIOExtras
import NIOPosix
import OverlayCore

/// Any `MobileService` on the network: a TCP listener for control channels (frames with a
/// 16-bit length prefix, `SessionMessage`s) and a UDP socket for data, both on the host's
/// address, around one instance of the service, and the primary's tick. Everything it holds
/// lives on one event loop, the one its sockets use (checked where the loop's work begins): a
/// datagram is handled by the handler that read it, with no hop to another thread. A shell also
/// moves its service to another host, or takes one over (`ServiceShell+Migration`).
public final class ServiceShell<Service: MobileService>: @unchecked Sendable {
    public let service: String
    /// `ip:port` of the control listener and of the data socket.
    public let controlAddress: String
    public let dataAddress: String
    let loop: any EventLoop
    let logger: Logger
    let onEvent: @Sendable (Service.Event) -> Void
    /// What the service reports when its peer ends.
    let report: @Sendable (_ service: String, Service) -> Event?
    // Below: touched on `loop` only.
    /// What this host is to the service (role, epoch, migration), decided by the hosting core.
    var hosting: Hosting
    /// The peer's side of moving the service: frames, registry, events (nil in a bare shell).
    var host: ShellContext?
    /// The hosting core's timers that are set.
    var timers: [Hosting.Timer: Scheduled<Void>] = [:]
    var instance: Service
    /// The seeds of the instances this shell makes (a replica installs one from a snapshot).
    var random: SeededGenerator
    /// The primary's clock, while this host serves a service that ticks.
    var ticking: RepeatedTask?
    /// The standbys' heartbeats, while the core wants them.
    var heartbeating: RepeatedTask?
    /// After a takeover, each sender's late and direct datagrams merged back into sequence
    /// order, with the timer that lets go what waited too long.
    var ordering = LateTrafficOrdering<ByteBuffer>()
    var orderingTimer: Scheduled<Void>?
    var connections: [ServiceConnection: any Channel] = [:]
    /// After the commit: the highest request of each session handed to the target, so a
    /// client's resends of it do not cross the overlay again.
    var forwardedRequests: [SessionID: UInt64] = [:]
    /// After the redirect: when each sender still sending data here was last told where data
    /// goes now (a `DataRedirect`, at most every `dataRedirectInterval`).
    var dataRedirected: [String: NIODeadline] = [:]
    static var dataRedirectInterval: TimeAmount { .milliseconds(100) }
    static var dataRedirectedLimit: Int { 1024 }
    private var lastConnection: ServiceConnection = 0
    private var socketAddresses: [String: SocketAddress] = [:]
    private var malformedControl = 0
    /// Control connections closed because their host held `maximumConnectionsPerHost` already.
    private var refusedConnections = 0

    /// How many control connections were closed because their host held too many already.
    public func refusedConnectionCount() async -> Int {
        (try? await loop.submit { self.refusedConnections }.get()) ?? 0
    }
    /// What the read batch forwarded, sent at its end (`sendBatch`).
    var batch: [AddressedEnvelope<ByteBuffer>] = []
    var listener: (any Channel)?
    var datagrams: (any Channel)?

    init(
        service: String, controlAddress: String, dataAddress: String, loop: any EventLoop, seed: UInt64,
        hosting: Hosting, host: ShellContext?, logger: Logger,
        report: @escaping @Sendable (String, Service) -> Event?, onEvent: @escaping @Sendable (Service.Event) -> Void
    ) {
        self.report = report
        self.service = service
        self.controlAddress = controlAddress
        self.dataAddress = dataAddress
        self.loop = loop
        self.logger = logger
        self.onEvent = onEvent
        self.hosting = hosting
        self.host = host
        self.instance = Service(dataAddress: dataAddress, secrets: .system)
        self.random = SeededGenerator(seed: seed).derived("shell \(service)")
    }

    /// Binds both sockets on `address` (ports chosen by the system unless given) and serves
    /// them until `close()`, as the service's primary under epoch 1. `host`: how the shell
    /// reaches its peer (registry, migrations); without one it serves and never moves.
    public static func start(
        service: String, address: String, controlPort: Int = 0, dataPort: Int = 0, group: any EventLoopGroup,
        seed: UInt64, host: ShellContext? = nil, logger: Logger,
        report: @escaping @Sendable (String, Service) -> Event? = { _, _ in nil },
        onEvent: @escaping @Sendable (Service.Event) -> Void = { _ in }
    ) async throws -> ServiceShell {
        let shell = try await bind(
            service: service, address: address, controlPort: controlPort, dataPort: dataPort, group: group, seed: seed,
            host: host, logger: logger, report: report, onEvent: onEvent
        ) { _, _ in Hosting(primary: service, epoch: 1) }
        try await shell.loop.submit { shell.startTicking() }.get()
        return shell
    }

    /// Binds both sockets; `hosting` makes the core from the control listener's and the data
    /// socket's addresses; the peer hears of both (`bound`).
    static func bind(
        service: String, address: String, controlPort: Int = 0, dataPort: Int = 0, group: any EventLoopGroup,
        seed: UInt64, host: ShellContext?, logger: Logger, report: @escaping @Sendable (String, Service) -> Event?,
        onEvent: @escaping @Sendable (Service.Event) -> Void,
        hosting: (_ controlAddress: String, _ dataAddress: String) -> Hosting
    ) async throws -> ServiceShell {
        let loop = group.next()
        let box = OwnerSlot<ServiceShell>()
        // No SO_REUSEADDR: on Linux a UDP socket bound to port 0 with it may be given a port
        // that another live socket with it holds, and two shells would share one data port.
        let datagrams = try await DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            // Up to 64 datagrams a read (recvmmsg), each with room for 2 KiB: the allocator's
            // buffer is shared out among them.
            .channelOption(.datagramVectorReadMessageCount, value: 64)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 64 * 2048))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ServiceDatagramHandler(box: box))
                }
            }
            .bind(host: address, port: dataPort).get()
        let listener: any Channel
        do {
            listener = try await ServerBootstrap(group: loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            ByteToMessageHandler(LengthFieldBasedFrameDecoder(lengthFieldBitLength: .twoBytes)),
                            LengthFieldPrepender(lengthFieldBitLength: .twoBytes),
                            ServiceControlHandler(box: box),
                        ])
                    }
                }
                .bind(host: address, port: controlPort).get()
        } catch {
            try? await datagrams.close()
            throw error
        }
        let controlAddress = "\(address):\(listener.localAddress?.port ?? 0)"
        let dataAddress = "\(address):\(datagrams.localAddress?.port ?? 0)"
        let shell = ServiceShell(
            service: service, controlAddress: controlAddress, dataAddress: dataAddress, loop: loop, seed: seed,
            hosting: hosting(controlAddress, dataAddress), host: host, logger: logger, report: report,
            onEvent: onEvent)
        try await loop.submit {
            shell.listener = listener
            shell.datagrams = datagrams
            box.owner = shell
        }.get()
        host?.emit(.bound(service: service, control: controlAddress, data: dataAddress))
        return shell
    }

    /// What `body` reads from the service now, on its loop.
    public func inspect<Value: Sendable>(_ body: @escaping @Sendable (Service) -> Value) async throws -> Value {
        try await loop.submit { body(self.instance) }.get()
    }

    /// Closes every control channel and both sockets.
    public func close() async {
        let channels = (try? await loop.submit { self.closeOnLoop() }.get()) ?? []
        for channel in channels { try? await channel.close() }
    }

    /// Stops serving now, on the loop; the channels close in the background.
    func stopServing() {
        for channel in closeOnLoop() { channel.close(promise: nil) }
    }

    /// Stops serving and hands back the channels to close.
    func closeOnLoop() -> [any Channel] {
        loop.assertInEventLoop()
        perform(hosting.handle(.close))
        stopTicking()
        heartbeating?.cancel()
        heartbeating = nil
        orderingTimer?.cancel()
        orderingTimer = nil
        // The first close tells the peer what the shell refused.
        let counts = [
            "refused-connections": refusedConnections, "malformed-control": malformedControl,
            "dropped-resumes": instance.droppedResumes,
        ].filter { $0.value > 0 }
        if listener != nil || datagrams != nil, !counts.isEmpty { host?.emit(.rejected(counts: counts)) }
        let all = Array(connections.values) + [listener, datagrams].compactMap { $0 }
        connections = [:]
        listener = nil
        datagrams = nil
        return all
    }

    // MARK: On the loop

    /// A remote host may hold this many control connections at once; more are closed at once
    /// (each would carry a session: the table's room is not one host's to take).
    static var maximumConnectionsPerHost: Int { 16 }

    func connected(_ channel: any Channel) -> ServiceConnection? {
        loop.assertInEventLoop()
        guard hosting.role != .closed, hosting.role != .replica, hosting.role != .standby else { return nil }
        let host = channel.remoteAddress?.ipAddress
        guard connections.values.count(where: { $0.remoteAddress?.ipAddress == host }) < Self.maximumConnectionsPerHost
        else {
            refusedConnections += 1
            return nil
        }
        lastConnection += 1
        connections[lastConnection] = channel
        return lastConnection
    }

    func disconnected(_ connection: ServiceConnection) {
        guard connections.removeValue(forKey: connection) != nil else { return }
        carryOut(instance.handle(.disconnected(connection)), packet: nil, context: nil)
    }

    func control(_ frame: [UInt8], from connection: ServiceConnection) {
        loop.assertInEventLoop()
        let message: SessionMessage
        do {
            message = try SessionMessage(frame: frame)
        } catch {
            malformedControl += 1
            logger.warning("\(service): malformed control frame of \(frame.count) bytes: \(error)")
            return
        }
        switch hosting.role {
        case .primary:
            guard maySend() else { return }
            carryOut(instance.handle(.message(from: connection, message)), packet: nil, context: nil)
        case .frozen, .moved:
            migratedControl(message, from: connection)
        case .replica, .standby, .closed:
            break
        }
    }

    func datagram(_ envelope: AddressedEnvelope<ByteBuffer>, context: ChannelHandlerContext) {
        loop.assertInEventLoop()
        let sender = envelope.remoteAddress.endpoint
        if envelope.data.withUnsafeReadableBytes(LateDatagram.looksLike),
            let late = hosting.lateMessage(inDatagram: Array(buffer: envelope.data), from: sender)
        {
            return perform(hosting.handle(.message(late)))
        }
        if envelope.data.withUnsafeReadableBytes(StandbyHeartbeat.looksLike),
            let heartbeat = try? StandbyHeartbeat(bytes: Array(buffer: envelope.data))
        {
            return perform(hosting.handle(.heartbeat(heartbeat, from: sender, now: Self.now())))
        }
        switch hosting.role {
        case .primary:
            guard maySend() else { return }
            if hosting.receivesLateTraffic,
                let sequence = envelope.data.withUnsafeReadableBytes({ Service.sequenceNumber(ofDatagram: $0) })
            {
                let due = ordering.direct(from: sender, sequence: sequence, packet: envelope.data, now: Self.now())
                return forwardInOrder(due, context: context)
            }
            deliver(envelope.data, from: sender, context: context)
        case .frozen, .moved:
            migratedDatagram(Array(buffer: envelope.data), from: sender, at: envelope.remoteAddress)
        case .replica, .standby, .closed:
            break
        }
    }

    /// Sends what the read batch forwarded, if this host may still send: a host stopped
    /// (SIGSTOP) after it decided to forward and woken after a standby took over sends none of
    /// it. The lease is checked again here, the last moment before the packets leave.
    func sendBatch(context: ChannelHandlerContext) {
        guard !batch.isEmpty else { return context.flush() }
        defer { batch.removeAll(keepingCapacity: true) }
        guard mayForward() else {
            logger.warning("\(service): withheld \(batch.count) forwarded datagrams (no longer sure to serve)")
            return
        }
        for envelope in batch { context.write(NIOAny(envelope), promise: nil) }
        context.flush()
    }

    /// Whether what the service forwarded may leave now: not from a closed host, nor from a
    /// primary that may have been replaced.
    func mayForward() -> Bool { hosting.role != .closed && (hosting.role != .primary || maySend()) }

    /// Hands a datagram to the service and carries out what it says.
    func deliver(_ packet: ByteBuffer, from sender: String, context: ChannelHandlerContext?) {
        let outputs = packet.withUnsafeReadableBytes { instance.receive(datagram: $0, from: sender) }
        carryOut(outputs, packet: packet, context: context)
    }

    /// Delivers datagrams the ordering let go, and sets its timer for those still waiting.
    func forwardInOrder(_ due: [(sender: String, packet: ByteBuffer)], context: ChannelHandlerContext?) {
        for (sender, packet) in due { deliver(packet, from: sender, context: context) }
        orderingTimer?.cancel()
        orderingTimer = nil
        guard let deadline = ordering.nextDeadline else { return }
        orderingTimer = loop.scheduleTask(in: TimeAmount(max(.zero, deadline - Self.now()))) { [self] in
            orderingTimer = nil
            forwardInOrder(ordering.tick(now: Self.now()), context: nil)
        }
    }

    /// The loop's monotonic clock, for the ordering.
    static func now() -> Duration { .nanoseconds(Int64(clamping: NIODeadline.now().uptimeNanoseconds)) }

    /// The primary's clock: ticks now and every `tickInterval`, if the service ticks.
    func startTicking() {
        guard let interval = Service.tickInterval, ticking == nil, hosting.role == .primary else { return }
        ticking = loop.scheduleRepeatedTask(initialDelay: .zero, delay: TimeAmount(interval)) { [self] _ in
            guard hosting.role == .primary else { return stopTicking() }
            guard maySend() else { return }
            carryOut(instance.handle(.tick), packet: nil, context: nil)
        }
    }

    func stopTicking() {
        ticking?.cancel()
        ticking = nil
    }

    /// Whether the primary may take its clients' traffic now (and answer it): not while it
    /// claims a higher epoch, nor once a standby's lease ran out (that standby may serve
    /// already). Without standbys it always may.
    func maySend() -> Bool {
        guard !hosting.standbys.isEmpty || hosting.claiming != nil else { return true }
        let now = Self.now()
        if hosting.maySend(now: now) { return true }
        perform(hosting.handle(.leaseCheck(now: now)))
        return false
    }

    /// Carries out the instance's outputs; `packet` is the datagram they are about (with the
    /// handler `context` that read it, or nil when it came from elsewhere).
    func carryOut(_ outputs: [ServiceOutput<Service.Event>], packet: ByteBuffer?, context: ChannelHandlerContext?) {
        for output in outputs {
            switch output {
            case .send(let connection, let message):
                perform(hosting.answer(.message(message, to: connection), through: instance.sequence))
                // A client that opens or resumes its session learns who would take over.
                if case .ready = message, !hosting.standbys.isEmpty {
                    let standbys = SessionMessage.standbys(hosting.readyStandbys.map(\.address))
                    perform(hosting.answer(.message(standbys, to: connection), through: instance.sequence))
                }
            case .forward(let targets):
                // Outside a read batch (the late traffic's ordering let it go), the lease is
                // checked here, as `sendBatch` checks it for a batch.
                guard let packet, context != nil || mayForward() else { continue }
                for target in targets {
                    guard let address = socketAddress(target) else { continue }
                    let envelope = AddressedEnvelope(remoteAddress: address, data: packet)
                    if context != nil {
                        batch.append(envelope)
                    } else {
                        datagrams?.write(envelope, promise: nil)
                    }
                }
                if context == nil { datagrams?.flush() }
            case .datagram(let bytes, let targets):
                // What it shows of the state waits, like an answer, until the standbys hold it:
                // a tick showing an input no standby has would show it twice after a takeover.
                guard hosting.standbysHold(instance.sequence) else {
                    perform(hosting.answer(.datagram(bytes, to: targets), through: instance.sequence))
                    continue
                }
                send(datagram: bytes, to: targets)
            case .emit(let event):
                onEvent(event)
            case .changed(let sequence, let operation):
                migrationChanged(sequence, operation)
            }
        }
    }

    func send(datagram bytes: [UInt8], to targets: [String]) {
        let buffer = ByteBuffer(bytes: bytes)
        for target in targets {
            guard let address = socketAddress(target) else { continue }
            datagrams?.write(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
        }
        datagrams?.flush()
    }

    func send(_ message: SessionMessage, to connection: ServiceConnection) {
        connections[connection]?.writeAndFlush(ByteBuffer(bytes: message.frame), promise: nil)
    }

    func socketAddress(_ text: String) -> SocketAddress? {
        if let known = socketAddresses[text] { return known }
        guard let address = SocketAddress(endpoint: text) else {
            logger.warning("\(service): cannot send to '\(text)'")
            return nil
        }
        socketAddresses[text] = address
        return address
    }
}

/// The service's data socket: every datagram to the shell, what a read batch forwarded sent
/// once at its end.
final class ServiceDatagramHandler<Service: MobileService>: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let box: OwnerSlot<ServiceShell<Service>>

    init(box: OwnerSlot<ServiceShell<Service>>) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        box.owner?.datagram(unwrapInboundIn(data), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) { box.owner?.sendBatch(context: context) }
}

/// One client's control channel at the service: frames in, the connection's comings and goings.
final class ServiceControlHandler<Service: MobileService>: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let box: OwnerSlot<ServiceShell<Service>>
    private var connection: ServiceConnection?

    init(box: OwnerSlot<ServiceShell<Service>>) { self.box = box }

    func channelActive(context: ChannelHandlerContext) {
        connection = box.owner?.connected(context.channel)
        if connection == nil { context.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let connection else { return }
        box.owner?.control(frame.readBytes(length: frame.readableBytes) ?? [], from: connection)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let connection { box.owner?.disconnected(connection) }
        context.fireChannelInactive()
    }
}
