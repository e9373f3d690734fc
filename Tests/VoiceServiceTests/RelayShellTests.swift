import Foundation
import Logging
import Mobility
import NIOCore
import NIOExtras
import NIOPosix
import RTP
import ServiceRuntime
import Testing
import Voice
import VoiceRelay

@testable import VoiceService

/// The relay over real sockets on loopback: raw participants join over TCP and exchange
/// crafted RTP over UDP; three voice clients talk through it.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RelayShellTests {
    static let reference = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Testbed/audio/reference.wav").path
    static let logger = Logger(label: "relay-test")

    /// A participant made of bare sockets: a control channel and a data socket.
    struct RawParticipant {
        let control: any Channel
        let data: NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>

        static func join(_ relay: RelayShell, name: String, group: any EventLoopGroup) async throws -> (
            RawParticipant, RelayMessage
        ) {
            // Room in the kernel for every packet of a test, read or not yet.
            let data = try await DatagramBootstrap(group: group)
                .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
                .bind(host: "127.0.0.1", port: 0) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(
                            wrappingChannelSynchronously: channel)
                    }
                }
            let (frames, sink) = AsyncStream<[UInt8]>.makeStream()
            let port = Int(relay.controlAddress.split(separator: ":").last!)!
            let control = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            ByteToMessageHandler(LengthFieldBasedFrameDecoder(lengthFieldBitLength: .twoBytes)),
                            LengthFieldPrepender(lengthFieldBitLength: .twoBytes),
                            FrameCollector(sink: sink),
                        ])
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            let local = "127.0.0.1:\(data.channel.localAddress!.port!)"
            // A session first, then the join as its first request; the welcome is pushed.
            try await control.writeAndFlush(ByteBuffer(bytes: SessionMessage.open(client: name).frame))
            try await control.writeAndFlush(
                ByteBuffer(
                    bytes: SessionMessage.request(
                        sequence: 1, body: RelayMessage.join(name: name, dataAddress: local).frame
                    )
                    .frame))
            for await frame in frames {
                guard case .push(let body) = try SessionMessage(frame: frame) else { continue }
                return (RawParticipant(control: control, data: data), try RelayMessage(frame: body))
            }
            throw ChannelError.eof
        }
    }

    /// Hands every control frame to a stream.
    final class FrameCollector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let sink: AsyncStream<[UInt8]>.Continuation

        init(sink: AsyncStream<[UInt8]>.Continuation) { self.sink = sink }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var frame = unwrapInboundIn(data)
            sink.yield(frame.readBytes(length: frame.readableBytes) ?? [])
        }
    }

    /// The first `count` datagrams from `inbound`, or none when they did not all come within `limit`.
    static func collect(
        _ count: Int, from inbound: NIOAsyncChannelInboundStream<AddressedEnvelope<ByteBuffer>>, within limit: Duration
    ) async throws -> [(bytes: [UInt8], sender: SocketAddress)] {
        try await withThrowingTaskGroup(of: [(bytes: [UInt8], sender: SocketAddress)].self) { group in
            group.addTask {
                var received: [(bytes: [UInt8], sender: SocketAddress)] = []
                for try await envelope in inbound {
                    var data = envelope.data
                    received.append((data.readBytes(length: data.readableBytes)!, envelope.remoteAddress))
                    if received.count == count { break }
                }
                return received
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return []
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
    }

    /// Packets of every shape RTP allows: CSRCs, a header extension, padding, a marker.
    static func crafted(count: Int) -> [[UInt8]] {
        (0..<count).map { (index: Int) -> [UInt8] in
            let payload: [UInt8] = (0..<(20 + index % 40)).map { UInt8(truncatingIfNeeded: $0 &* index) }
            let csrcs: [UInt32] = index % 3 == 0 ? [1, 2] : []
            let headerExtension: (profile: UInt16, data: [UInt8])? = index % 5 == 0 ? (0xBEDE, [1, 2, 3, 4]) : nil
            let packet = RTPPacket(
                marker: index == 0, payloadType: 97, sequenceNumber: UInt16(index), timestamp: UInt32(index * 320),
                ssrc: 0xABCD_0001, csrcs: csrcs, headerExtension: headerExtension, payload: payload,
                paddingLength: index % 7 == 0 ? 4 : 0)
            return packet.bytes
        }
    }

    /// The seed replays an experiment's draws; it must not replay secrets: two relays started
    /// with the same seed hand the same client different session ids and tokens.
    @Test func sessionSecretsComeFromTheSystemNotTheSeed() async throws {
        try await withEventLoops(1) { group in
            var sessions: [(SessionID, SessionToken)] = []
            for _ in 0..<2 {
                let relay = try await RelayShell.start(
                    service: "voice", address: "127.0.0.1", group: group, seed: 1, logger: Self.logger)
                let (participant, _) = try await RawParticipant.join(relay, name: "peer-1", group: group)
                try await participant.data.executeThenClose { _, _ in }
                try await participant.control.close()
                let table = try await relay.inspect { $0.state.sessions.sessions }
                #expect(table.count == 1)
                if let (id, session) = table.first { sessions.append((id, session.token)) }
                await relay.close()
            }
            try #require(sessions.count == 2)
            #expect(sessions[0].0 != sessions[1].0)
            #expect(sessions[0].1 != sessions[1].1)
        }
    }

    @Test func oneHostGetsSixteenControlConnectionsAtMost() async throws {
        try await withEventLoops(1) { group in
            let relay = try await RelayShell.start(
                service: "voice", address: "127.0.0.1", group: group, seed: 1, logger: Self.logger)
            let port = Int(relay.controlAddress.split(separator: ":").last!)!
            var channels: [any Channel] = []
            for _ in 0..<20 {
                channels.append(try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get())
            }
            #expect(try await eventually { await relay.refusedConnectionCount() == 4 })
            for channel in channels { try? await channel.close() }
            await relay.close()
        }
    }

    @Test func everyPacketReachesEveryOtherParticipantUnchanged() async throws {
        try await withEventLoops(1) { group in
            let relay = try await RelayShell.start(
                service: "voice", address: "127.0.0.1", group: group, seed: 1, logger: Self.logger)
            let (speaker, welcome) = try await RawParticipant.join(relay, name: "peer-1", group: group)
            guard case .welcome(1, let relayData) = welcome else {
                Issue.record("no welcome: \(welcome)")
                return
            }
            #expect(relayData == relay.dataAddress)
            let (first, _) = try await RawParticipant.join(relay, name: "peer-2", group: group)
            let (second, _) = try await RawParticipant.join(relay, name: "peer-3", group: group)
            let relayAddress = try SocketAddress(
                ipAddress: "127.0.0.1", port: Int(relayData.split(separator: ":").last!)!)
            let packets = Self.crafted(count: 300)

            try await speaker.data.executeThenClose { _, outbound in
                try await first.data.executeThenClose { firstIn, _ in
                    try await second.data.executeThenClose { secondIn, _ in
                        // A stranger's packet and a packet that is not RTP are dropped, not forwarded.
                        try await outbound.write(
                            AddressedEnvelope(remoteAddress: relayAddress, data: ByteBuffer(bytes: [0x00, 1, 2])))
                        for packet in packets {
                            try await outbound.write(
                                AddressedEnvelope(remoteAddress: relayAddress, data: ByteBuffer(bytes: packet)))
                        }
                        for inbound in [firstIn, secondIn] {
                            let received = try await Self.collect(packets.count, from: inbound, within: .seconds(5))
                            #expect(received.map(\.bytes) == packets)
                            #expect(received.allSatisfy { $0.sender == relayAddress })
                        }
                    }
                }
            }
            let state = try await relay.state()
            #expect(state.counters.received == UInt64(packets.count) + 1)
            #expect(state.counters.forwarded == UInt64(packets.count) * 2)
            #expect(state.counters.forwardedBytes == UInt64(packets.map(\.count).reduce(0, +)) * 2)
            #expect(state.counters.droppedMalformed == 1)
            #expect(state.participants.map(\.name) == ["peer-1", "peer-2", "peer-3"])
            // A closed control channel is not leaving (the session waits to be resumed); a leave is.
            try await speaker.control.close()
            for participant in [first, second] {
                try await participant.control.writeAndFlush(
                    ByteBuffer(bytes: SessionMessage.request(sequence: 2, body: RelayMessage.leave.frame).frame))
                try await participant.control.close()
            }
            #expect(try await eventually { try await relay.state().participants.count == 1 })
            #expect(try await relay.state().participants.map(\.name) == ["peer-1"])
            await relay.close()
        }
    }

    @Test func threeClientsTalkThroughTheRelayAndEachHearsTheOthers() async throws {
        try await withEventLoops(1) { group in
            let relay = try await RelayShell.start(
                service: "voice", address: "127.0.0.1", group: group, seed: 1, logger: Self.logger)
            var clients: [VoiceClient] = []
            for index in 1...3 {
                clients.append(
                    try await VoiceClient.join(
                        relay: relay.controlAddress, as: "peer-\(index)", address: "127.0.0.1", seed: UInt64(index),
                        group: group, logger: Self.logger))
            }
            let source = try WAVFile.read(path: Self.reference).samples
            let first = Array(source.prefix(16000 * 3))
            let second = Array(source.dropFirst(16000 * 3).prefix(16000 * 2))
            let third = Array(source.dropFirst(16000 * 5).prefix(16000 * 1))
            // peer-1 speaks 3 s, then peer-2 speaks 2 s, then peer-1 again for 1 s.
            let (ssrc1, ssrc2) = (clients[0].ssrc, clients[1].ssrc)
            #expect(try await clients[0].say(first) == 0)
            #expect(try await clients[1].say(second) == 0)
            let again = try await clients[0].say(third)
            #expect(again > 150 + 10, "the second spurt starts at slot \(again), after the silence")
            let (one, two) = (again + third.count / 320, second.count / 320)
            #expect(try await eventually { await clients[0].reached([clients[1], clients[2]], frames: one) })
            #expect(try await eventually { await clients[1].reached([clients[0], clients[2]], frames: two) })
            // A stranger sends peer-3 RTP of its own: held, never played, dropped once stale.
            let stranger = try await DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
            let listener = try #require(SocketAddress(endpoint: clients[2].localDataAddress))
            for index in 0..<30 {
                let packet = RTPPacket(
                    marker: index == 0, payloadType: 97, sequenceNumber: UInt16(index), timestamp: UInt32(index * 320),
                    ssrc: 0x5757_5757, payload: [UInt8](repeating: 1, count: 40))
                try await stranger.writeAndFlush(
                    AddressedEnvelope(remoteAddress: listener, data: ByteBuffer(bytes: packet.bytes)))
            }
            try await Task.sleep(for: .milliseconds(600))
            try await stranger.writeAndFlush(
                AddressedEnvelope(remoteAddress: listener, data: ByteBuffer(bytes: [0x80, 97])))
            #expect(
                try await eventually {
                    try await clients[2].connection.loop.submit { clients[2].connection.strangerDatagrams }.get() == 30
                })
            try await stranger.close()
            var heard: [[VoiceClient.Heard]] = []
            for client in clients { heard.append(await client.finish()) }

            // Everyone hears every other speaker, never themselves.
            #expect(heard[0].map(\.ssrc) == [ssrc2])
            #expect(Set(heard[1].map(\.ssrc)) == [ssrc1])
            #expect(Set(heard[2].map(\.ssrc)) == [ssrc1, ssrc2])
            // What peer-1 said, on its own timeline: the first spurt, silence, the second.
            let silence = (again - first.count / 320) * 320
            let timeline1 = first + [Int16](repeating: 0, count: silence) + third
            for (listener, tracks) in heard.enumerated() {
                for track in tracks {
                    let spoken = track.ssrc == ssrc1 ? timeline1 : second
                    // Every frame, none concealed, the silence silent, and it is the source.
                    #expect(track.packets == (track.ssrc == ssrc1 ? 200 : 100), "peer-\(listener + 1)")
                    #expect(track.concealed == 0, "peer-\(listener + 1)")
                    #expect(track.silent == (track.ssrc == ssrc1 ? silence / 320 : 0), "peer-\(listener + 1)")
                    #expect(track.samples.count == spoken.count, "peer-\(listener + 1): \(track.samples.count)")
                    let (value, lag) = AudioSimilarity.correlation(spoken, track.samples, maxLag: 320 * 4)
                    #expect(value > 0.9, "peer-\(listener + 1) heard \(value) at lag \(lag)")
                    if track.ssrc == ssrc1 {
                        // The second spurt lies where it was said.
                        let start = first.count + silence
                        let (late, _) = AudioSimilarity.correlation(
                            third, Array(track.samples[start...]), maxLag: 320 * 2)
                        #expect(
                            late > 0.9, "peer-\(listener + 1): the second spurt correlates \(late) where it belongs")
                    }
                }
            }
            let state = try await relay.state()
            #expect(
                state.counters.forwarded
                    == UInt64((first.count / 320 + third.count / 320) * 2 + (second.count / 320) * 2))
            #expect(state.counters.droppedUnknownSender == 0 && state.counters.droppedMalformed == 0)
            await relay.close()
        }
    }
}
