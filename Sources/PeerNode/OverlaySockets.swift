import Logging
import NIOCore
import NIOExtras
import NIOPosix

/// The overlay's TCP listener and UDP socket, bound on the peer's own address. Every TCP
/// connection carries length-prefixed frames (16-bit prefix), which go to `frames`; datagrams
/// are counted until a service owns them.
enum OverlaySockets {
    /// Binds both sockets, serves them while `body` runs (it gets the bound TCP and UDP ports),
    /// and closes them when `body` returns or throws.
    static func serving<Result: Sendable>(
        _ configuration: PeerConfiguration, group: any EventLoopGroup, logger: Logger,
        frames: AsyncStream<[UInt8]>.Continuation,
        body: @Sendable @escaping (_ tcpPort: Int, _ udpPort: Int) async throws -> Result
    ) async throws -> Result {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: configuration.address, port: configuration.tcpPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LengthFieldBasedFrameDecoder(lengthFieldBitLength: .twoBytes)))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await listener.executeThenClose { connections in
            let datagrams = try await DatagramBootstrap(group: group)
                .bind(host: configuration.address, port: configuration.udpPort) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(
                            wrappingChannelSynchronously: channel)
                    }
                }
            let tcpPort = listener.channel.localAddress?.port ?? 0
            let udpPort = datagrams.channel.localAddress?.port ?? 0
            return try await datagrams.executeThenClose { inbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await withThrowingDiscardingTaskGroup { readers in
                            for try await connection in connections {
                                readers.addTask {
                                    try? await connection.executeThenClose { inbound, _ in
                                        for try await var frame in inbound {
                                            frames.yield(frame.readBytes(length: frame.readableBytes) ?? [])
                                        }
                                    }
                                }
                            }
                        }
                    }
                    group.addTask {
                        var received = 0
                        for try await _ in inbound { received += 1 }
                        logger.debug("overlay datagrams received: \(received)")
                    }
                    defer { group.cancelAll() }
                    return try await body(tcpPort, udpPort)
                }
            }
        }
    }
}
