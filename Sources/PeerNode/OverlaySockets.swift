import Logging
import NIOCore
import NIOPosix

/// The overlay's TCP listener and UDP socket, bound on the peer's own address. For now they
/// accept and count traffic; the DHT and service shells will own what arrives.
enum OverlaySockets {
    /// Binds both sockets, serves them while `body` runs (it gets the bound TCP and UDP ports),
    /// and closes them when `body` returns or throws.
    static func serving<Result: Sendable>(
        _ configuration: PeerConfiguration, group: any EventLoopGroup, logger: Logger,
        body: @Sendable @escaping (_ tcpPort: Int, _ udpPort: Int) async throws -> Result
    ) async throws -> Result {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: configuration.address, port: configuration.tcpPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
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
                        for try await connection in connections {
                            logger.debug(
                                "overlay connection from \(String(describing: connection.channel.remoteAddress))")
                            try? await connection.executeThenClose { _, _ in }
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
