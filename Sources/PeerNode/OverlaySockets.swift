import Logging
import NIOCore
import NIOExtras
import NIOPosix
import OverlayCore

/// The overlay's TCP listener and UDP socket, bound on the peer's own address. Every TCP
/// connection it accepts belongs to the `OverlayTransport`; datagrams are counted until a
/// service owns them.
enum OverlaySockets {
    /// Binds both sockets, serves them while `body` runs (it gets the bound TCP and UDP ports),
    /// and closes them when `body` returns or throws.
    static func serving<Result: Sendable>(
        _ configuration: PeerConfiguration, group: any EventLoopGroup, logger: Logger,
        transport: OverlayTransport,
        body: @Sendable @escaping (_ tcpPort: Int, _ udpPort: Int) async throws -> Result
    ) async throws -> Result {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Overlay frames are small and often come in a row (a migration's late packets):
            // Nagle's algorithm would hold each behind the previous one's ACK, a round trip or
            // a delayed ACK (up to 200 ms on a wan link).
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.address, port: configuration.tcpPort) { channel in
                // Plain handlers, no async channel per connection: a connection accepted while
                // the peer shuts down must not leave an unfinished async writer behind (NIO
                // traps on those).
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(transport.acceptedConnectionHandlers(channel))
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
            transport.listening(on: HostPort(host: configuration.address, port: UInt16(clamping: tcpPort)))
            let udpPort = datagrams.channel.localAddress?.port ?? 0
            return try await datagrams.executeThenClose { inbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // Accepting goes on while this is consumed; each connection's frames
                        // reach the transport through its handlers.
                        for try await _ in connections {}
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
