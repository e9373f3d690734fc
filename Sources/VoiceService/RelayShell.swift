import Logging
import Mobility
import NIOCore
import NIOExtras
import NIOPosix
import RTP
import VoiceRelay

/// The voice relay on the network: a TCP listener for control channels (frames with a 16-bit
/// length prefix, `SessionMessage`s) and a UDP socket for data, both on the host's address,
/// around one `RelayInstance`. Everything it holds lives on one event loop, the one its sockets
/// use: a data packet is forwarded by the handler that read it, with no hop to another thread.
/// A shell also moves its relay to another host, or takes one over (`RelayShell+Migration`).
public final class RelayShell: @unchecked Sendable {
    /// The service kind this shell runs, as `deploy` names it.
    public static let kind = "voice-relay"

    public let service: String
    /// `ip:port` of the control listener and of the data socket.
    public let controlAddress: String
    public let dataAddress: String
    let loop: any EventLoop
    let logger: Logger
    let onEvent: @Sendable (RelayInstance.RelayEvent) -> Void
    // Below: touched on `loop` only.
    /// What this host is to the relay (role, epoch, migration), decided by the hosting core.
    var hosting: RelayHosting
    /// The peer's side of moving the relay: frames, registry, events (nil in a bare shell).
    var host: MigrationHost?
    /// The hosting core's timers that are set.
    var timers: [RelayHosting.Timer: Scheduled<Void>] = [:]
    var instance: RelayInstance
    /// After a takeover, each speaker's late and direct packets merged back into sequence order,
    /// with the timer that lets go what waited too long.
    var ordering = LateTrafficOrdering<ByteBuffer>()
    var orderingTimer: Scheduled<Void>?
    var connections: [RelayInstance.ConnectionID: any Channel] = [:]
    private var lastConnection: RelayInstance.ConnectionID = 0
    private var socketAddresses: [String: SocketAddress] = [:]
    private var malformedControl = 0
    var listener: (any Channel)?
    var datagrams: (any Channel)?

    init(
        service: String, controlAddress: String, dataAddress: String, loop: any EventLoop, seed: UInt64,
        hosting: RelayHosting, host: MigrationHost?, logger: Logger,
        onEvent: @escaping @Sendable (RelayInstance.RelayEvent) -> Void
    ) {
        self.service = service
        self.controlAddress = controlAddress
        self.dataAddress = dataAddress
        self.loop = loop
        self.logger = logger
        self.onEvent = onEvent
        self.hosting = hosting
        self.host = host
        self.instance = RelayInstance(dataAddress: dataAddress, seed: seed)
    }

    /// Binds both sockets on `address` (ports chosen by the system unless given) and serves
    /// them until `close()`, as the relay's primary under epoch 1. `host`: how the shell reaches
    /// its peer (registry, migrations); without one it serves and never moves.
    public static func start(
        service: String, address: String, controlPort: Int = 0, dataPort: Int = 0, group: any EventLoopGroup,
        seed: UInt64 = .random(in: .min ... .max), host: MigrationHost? = nil, logger: Logger,
        onEvent: @escaping @Sendable (RelayInstance.RelayEvent) -> Void = { _ in }
    ) async throws -> RelayShell {
        try await bind(
            service: service, address: address, controlPort: controlPort, dataPort: dataPort, group: group, seed: seed,
            host: host, logger: logger, onEvent: onEvent
        ) { _, _ in RelayHosting(primary: service, epoch: 1) }
    }

    /// Binds both sockets; `hosting` makes the core from the control listener's and the data
    /// socket's addresses.
    static func bind(
        service: String, address: String, controlPort: Int = 0, dataPort: Int = 0, group: any EventLoopGroup,
        seed: UInt64, host: MigrationHost?, logger: Logger,
        onEvent: @escaping @Sendable (RelayInstance.RelayEvent) -> Void,
        hosting: (_ controlAddress: String, _ dataAddress: String) -> RelayHosting
    ) async throws -> RelayShell {
        let loop = group.next()
        let box = OwnerSlot<RelayShell>()
        let datagrams = try await DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            // Up to 64 datagrams a read (recvmmsg), each with room for 2 KiB: the allocator's
            // buffer is shared out among them.
            .channelOption(.datagramVectorReadMessageCount, value: 64)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 64 * 2048))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RelayDatagramHandler(box: box))
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
                            RelayControlHandler(box: box),
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
        let shell = RelayShell(
            service: service, controlAddress: controlAddress, dataAddress: dataAddress, loop: loop, seed: seed,
            hosting: hosting(controlAddress, dataAddress), host: host, logger: logger, onEvent: onEvent)
        try await loop.submit {
            shell.listener = listener
            shell.datagrams = datagrams
            box.owner = shell
        }.get()
        return shell
    }

    /// The relay's state now (participants, sessions, counters).
    public func state() async throws -> RelayState {
        try await loop.submit { self.instance.state }.get()
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
        perform(hosting.handle(.close))
        orderingTimer?.cancel()
        orderingTimer = nil
        let all = Array(connections.values) + [listener, datagrams].compactMap { $0 }
        connections = [:]
        listener = nil
        datagrams = nil
        return all
    }

    // MARK: On the loop

    func connected(_ channel: any Channel) -> RelayInstance.ConnectionID? {
        guard hosting.role != .closed, hosting.role != .replica else { return nil }
        lastConnection += 1
        connections[lastConnection] = channel
        return lastConnection
    }

    func disconnected(_ connection: RelayInstance.ConnectionID) {
        guard connections.removeValue(forKey: connection) != nil else { return }
        carryOut(instance.handle(.disconnected(connection)), packet: nil, context: nil)
    }

    func control(_ frame: [UInt8], from connection: RelayInstance.ConnectionID) {
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
            carryOut(instance.handle(.message(from: connection, message)), packet: nil, context: nil)
        case .frozen, .moved:
            migratedControl(message, from: connection)
        case .replica, .closed:
            break
        }
    }

    func datagram(_ envelope: AddressedEnvelope<ByteBuffer>, context: ChannelHandlerContext) {
        let sender = envelope.remoteAddress.endpoint
        switch hosting.role {
        case .primary:
            let header = envelope.data.withUnsafeReadableBytes { bytes in try? RTPHeader(bytes: bytes) }
            if let header, hosting.receivesLateTraffic {
                let due = ordering.direct(
                    from: sender, sequence: header.sequenceNumber, packet: envelope.data, now: Self.now())
                return forwardInOrder(due, context: context)
            }
            forward(envelope.data, from: sender, isRTP: header != nil, context: context)
        case .frozen, .moved:
            migratedDatagram(Array(buffer: envelope.data), from: sender)
        case .replica, .closed:
            break
        }
    }

    /// Hands a data packet to the relay and forwards it where the relay says.
    func forward(_ packet: ByteBuffer, from sender: String, isRTP: Bool, context: ChannelHandlerContext?) {
        carryOut(
            instance.handle(.datagram(from: sender, bytes: packet.readableBytes, isRTP: isRTP)), packet: packet,
            context: context)
    }

    /// Forwards RTP packets the ordering let go, and sets its timer for those still waiting.
    func forwardInOrder(_ due: [(sender: String, packet: ByteBuffer)], context: ChannelHandlerContext?) {
        for (sender, packet) in due { forward(packet, from: sender, isRTP: true, context: context) }
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

    /// Carries out the instance's outputs; `packet` is the datagram they are about (with the
    /// handler `context` that read it, or nil when it came from elsewhere).
    func carryOut(_ outputs: [RelayInstance.Output], packet: ByteBuffer?, context: ChannelHandlerContext?) {
        for output in outputs {
            switch output {
            case .send(let connection, let message):
                perform(
                    hosting.answer(
                        HeldAnswer(connection: connection, message: message), through: instance.state.sequence))
            case .forward(let targets):
                guard let packet else { continue }
                for target in targets {
                    guard let address = socketAddress(target) else { continue }
                    let envelope = AddressedEnvelope(remoteAddress: address, data: packet)
                    if let context {
                        context.write(NIOAny(envelope), promise: nil)
                    } else {
                        datagrams?.write(envelope, promise: nil)
                    }
                }
                if context == nil { datagrams?.flush() }
            case .emit(let event):
                onEvent(event)
            case .changed(let sequence, let operation):
                migrationChanged(sequence, operation)
            }
        }
    }

    func send(_ message: SessionMessage, to connection: RelayInstance.ConnectionID) {
        connections[connection]?.writeAndFlush(ByteBuffer(bytes: message.frame), promise: nil)
    }

    private func socketAddress(_ text: String) -> SocketAddress? {
        if let known = socketAddresses[text] { return known }
        guard let address = SocketAddress(endpoint: text) else {
            logger.warning("\(service): cannot send to '\(text)'")
            return nil
        }
        socketAddresses[text] = address
        return address
    }
}

/// The relay's data socket: every datagram to the shell, every batch flushed once.
final class RelayDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let box: OwnerSlot<RelayShell>

    init(box: OwnerSlot<RelayShell>) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        box.owner?.datagram(unwrapInboundIn(data), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
}

/// One client's control channel at the relay: frames in, the connection's comings and goings.
final class RelayControlHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let box: OwnerSlot<RelayShell>
    private var connection: RelayInstance.ConnectionID?

    init(box: OwnerSlot<RelayShell>) { self.box = box }

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
