import Foundation
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import OverlayCore
import Testing

@testable import PeerNode

/// The overlay transport on real loopback sockets: one connection per pair of peers, and the
/// hello an accepted connection must start with.
@Suite(.timeLimit(.minutes(1))) struct OverlayTransportTests {
    /// A transport serving on `address` (a port the system picks) while `body` runs.
    static func serving<Result: Sendable>(
        _ address: String,
        _ body: @Sendable @escaping (OverlayTransport, HostPort, FrameQueue) async throws -> Result
    ) async throws -> Result {
        let (frames, sink) = AsyncStream<[UInt8]>.makeStream()
        let logger = Logger(label: "overlay-transport-test")
        let transport = OverlayTransport(
            host: address, group: MultiThreadedEventLoopGroup.singleton, logger: logger, frames: sink)
        let configuration = PeerConfiguration(name: PeerName(index: 1), address: address, tcpPort: 0, udpPort: 0)
        return try await OverlaySockets.serving(
            configuration, group: MultiThreadedEventLoopGroup.singleton, logger: logger, transport: transport
        ) { tcpPort, _ in
            let result = try await body(transport, HostPort(host: address, port: UInt16(tcpPort)), FrameQueue(frames))
            await transport.close(grace: .seconds(1))
            return result
        }
    }

    /// A transport's frames in, one at a time.
    final class FrameQueue: Sendable {
        private let frames: AsyncStream<[UInt8]>
        init(_ frames: AsyncStream<[UInt8]>) { self.frames = frames }
        func next() async -> [UInt8]? {
            var iterator = frames.makeAsyncIterator()
            return await iterator.next()
        }
    }

    /// Established TCP sockets whose local address is `host`, from the kernel's table.
    static func establishedSockets(on host: String) throws -> Int {
        let octets = host.split(separator: ".").compactMap { UInt8($0) }
        let hex = octets.reversed().map { ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined()
        // Read to its end: the kernel's table is longer than the first read of a /proc file.
        let file = try #require(FileHandle(forReadingAtPath: "/proc/net/tcp"))
        defer { try? file.close() }
        let table = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        return table.split(separator: "\n").dropFirst().filter { line in
            let fields = line.split(separator: " ")
            return fields.count > 3 && fields[1].hasPrefix(hex + ":") && fields[3] == "01"
        }.count
    }

    @Test func bothDirectionsBetweenTwoPeersShareOneConnection() async throws {
        try await Self.serving("127.201.0.1") { a, aAddress, aFrames in
            try await Self.serving("127.201.0.2") { b, bAddress, bFrames in
                #expect(a.send([1, 1, 0xAA], to: bAddress))
                #expect(await bFrames.next() == [1, 1, 0xAA])
                #expect(b.send([1, 1, 0xBB], to: aAddress))
                #expect(await aFrames.next() == [1, 1, 0xBB])
                #expect(a.send([1, 1, 0xCC], to: bAddress))
                #expect(await bFrames.next() == [1, 1, 0xCC])
                // One connection: an end at each address. Two would leave two at each.
                let ends = try ["127.201.0.1", "127.201.0.2"].map(Self.establishedSockets(on:))
                #expect(ends == [1, 1])
            }
        }
    }

    /// Frames to a peer go out in the order they were sent, those sent while it connected too.
    @Test func framesArriveInTheOrderTheyWereSent() async throws {
        try await Self.serving("127.201.0.3") { a, _, _ in
            try await Self.serving("127.201.0.4") { _, bAddress, bFrames in
                for index in 0..<500 { a.send([1, 1, UInt8(index >> 8), UInt8(index & 0xFF)], to: bAddress) }
                for index in 0..<500 {
                    let frame = await bFrames.next()
                    #expect(frame == [1, 1, UInt8(index >> 8), UInt8(index & 0xFF)])
                    guard frame != nil else { return }
                }
            }
        }
    }

    @Test func aPeerNobodyListensAtIsReportedLost() async throws {
        try await Self.serving("127.201.0.5") { a, _, _ in
            let nobody = HostPort(host: "127.201.0.6", port: 7000)
            #expect(a.send([1, 1, 0], to: nobody))
            var lost = a.lostLinks.makeAsyncIterator()
            #expect(await lost.next() == nobody)
        }
    }

    /// A connection whose first frame is no hello, or a hello naming another host than the one
    /// it came from, is closed before any of its frames reaches the peer.
    @Test(arguments: [
        (OverlayHello(listener: HostPort(host: "127.201.0.99", port: 7000)).frame, "127.201.0.7"),
        ([1, 1, 0xEE], "127.201.0.10"),
    ])
    func aConnectionWithoutItsOwnHelloIsRefused(first: [UInt8], honest: String) async throws {
        try await Self.serving(honest) { a, _, _ in
            try await Self.serving("127.201.0.8") { _, bAddress, bFrames in
                let intruder = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .bind(to: SocketAddress(ipAddress: "127.201.0.9", port: 0))
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                LengthFieldPrepender(lengthFieldBitLength: .twoBytes))
                        }
                    }
                    .connect(host: bAddress.host, port: Int(bAddress.port)).get()
                try await intruder.writeAndFlush(ByteBuffer(bytes: first))
                try? await intruder.writeAndFlush(ByteBuffer(bytes: [1, 1, 0xEE]))
                // The peer closes it.
                try await intruder.closeFuture.get()
                // The first frame the peer hands on is the next honest one.
                #expect(a.send([1, 1, 0xAA], to: bAddress))
                #expect(await bFrames.next() == [1, 1, 0xAA])
            }
        }
    }
}
