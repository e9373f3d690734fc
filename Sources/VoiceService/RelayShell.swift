import Logging
import NIOCore
import NIOExtras
import NIOPosix
import RTP
import VoiceRelay

/// The voice relay on the network: a TCP listener for control channels (frames with a 16-bit
/// length prefix) and a UDP socket for data, both on the host's address, around one
/// `RelayInstance`. Everything it holds lives on one event loop, the one its sockets use: a data
/// packet is forwarded by the handler that read it, with no hop to another thread.
public final class RelayShell: @unchecked Sendable {
    /// The service kind this shell runs, as `deploy` names it.
    public static let kind = "voice-relay"

    public let service: String
    /// `ip:port` of the control listener and of the data socket.
    public let controlAddress: String
    public let dataAddress: String
    let loop: any EventLoop
    private let logger: Logger
    private let onEvent: @Sendable (RelayInstance.RelayEvent) -> Void
    // Below: touched on `loop` only.
    private var instance: RelayInstance
    private var connections: [RelayInstance.ConnectionID: any Channel] = [:]
    private var lastConnection: RelayInstance.ConnectionID = 0
    private var socketAddresses: [String: SocketAddress] = [:]
    private var malformedControl = 0
    private var listener: (any Channel)?
    private var datagrams: (any Channel)?

    private init(
        service: String, controlAddress: String, dataAddress: String, loop: any EventLoop, seed: UInt64,
        logger: Logger, onEvent: @escaping @Sendable (RelayInstance.RelayEvent) -> Void
    ) {
        self.service = service
        self.controlAddress = controlAddress
        self.dataAddress = dataAddress
        self.loop = loop
        self.logger = logger
        self.onEvent = onEvent
        self.instance = RelayInstance(dataAddress: dataAddress, seed: seed)
    }

    /// Binds both sockets on `address` (ports chosen by the system unless given) and serves
    /// them until `close()`.
    public static func start(
        service: String, address: String, controlPort: Int = 0, dataPort: Int = 0, group: any EventLoopGroup,
        seed: UInt64 = .random(in: .min ... .max), logger: Logger,
        onEvent: @escaping @Sendable (RelayInstance.RelayEvent) -> Void = { _ in }
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
        let shell = RelayShell(
            service: service, controlAddress: "\(address):\(listener.localAddress?.port ?? 0)",
            dataAddress: "\(address):\(datagrams.localAddress?.port ?? 0)", loop: loop, seed: seed, logger: logger,
            onEvent: onEvent)
        try await loop.submit {
            shell.listener = listener
            shell.datagrams = datagrams
            box.owner = shell
        }.get()
        return shell
    }

    /// The relay's state now (participants, counters).
    public func state() async throws -> RelayState {
        try await loop.submit { self.instance.state }.get()
    }

    /// Closes every control channel and both sockets.
    public func close() async {
        let channels = (try? await loop.submit { () -> [any Channel] in
            let all = Array(self.connections.values) + [self.listener, self.datagrams].compactMap { $0 }
            self.connections = [:]
            return all
        }.get()) ?? []
        for channel in channels { try? await channel.close() }
    }

    // MARK: On the loop

    func connected(_ channel: any Channel) -> RelayInstance.ConnectionID {
        lastConnection += 1
        connections[lastConnection] = channel
        return lastConnection
    }

    func disconnected(_ connection: RelayInstance.ConnectionID) {
        guard connections.removeValue(forKey: connection) != nil else { return }
        carryOut(instance.handle(.disconnected(connection)), packet: nil, context: nil)
    }

    func control(_ frame: [UInt8], from connection: RelayInstance.ConnectionID) {
        let message: RelayMessage
        do {
            message = try RelayMessage(frame: frame)
        } catch {
            malformedControl += 1
            logger.warning("\(service): malformed control frame of \(frame.count) bytes: \(error)")
            connections[connection]?.writeAndFlush(ByteBuffer(bytes: RelayMessage.refused(reason: "\(error)").frame), promise: nil)
            return
        }
        carryOut(instance.handle(.message(from: connection, message)), packet: nil, context: nil)
    }

    func datagram(_ envelope: AddressedEnvelope<ByteBuffer>, context: ChannelHandlerContext) {
        let sender = envelope.remoteAddress.endpoint
        let isRTP = envelope.data.withUnsafeReadableBytes { bytes in (try? RTPHeader(bytes: bytes)) != nil }
        carryOut(
            instance.handle(.datagram(from: sender, bytes: envelope.data.readableBytes, isRTP: isRTP)),
            packet: envelope.data, context: context)
    }

    private func carryOut(_ outputs: [RelayInstance.Output], packet: ByteBuffer?, context: ChannelHandlerContext?) {
        for output in outputs {
            switch output {
            case .send(let connection, let message):
                connections[connection]?.writeAndFlush(ByteBuffer(bytes: message.frame), promise: nil)
            case .forward(let targets):
                guard let packet, let context else { continue }
                for target in targets {
                    guard let address = socketAddress(target) else { continue }
                    context.write(NIOAny(AddressedEnvelope(remoteAddress: address, data: packet)), promise: nil)
                }
            case .emit(let event):
                onEvent(event)
            }
        }
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
