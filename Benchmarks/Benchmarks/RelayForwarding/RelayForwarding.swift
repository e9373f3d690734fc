// The voice relay's forwarding decision, without sockets: `RelayInstance.receive(datagram:from:)`
// for an RTP packet of a participant of a room of 4, which goes to the other 3. The relay's
// whole per-packet work above the socket (the runtime's shell adds the sends). Per packet,
// ×1000 on the throughput line.
import Benchmark
import Mobility
import OverlayCore
import RTP
import Support
import VoiceRelay

let benchmarks: @Sendable () -> Void = {
    var relay = RelayInstance(dataAddress: "127.0.0.9:5000", secrets: .seeded(SeededGenerator(seed: 1)))
    for index in 1...4 {
        _ = relay.handle(.message(from: index, .open(client: "peer-\(index)")))
        _ = relay.handle(
            .message(
                from: index,
                .request(
                    sequence: 1,
                    body: RelayMessage.join(name: "peer-\(index)", dataAddress: "127.0.0.1:\(6000 + index)")
                        .frame)))
    }
    let packet = RTPPacket(
        payloadType: 97, sequenceNumber: 1, timestamp: 320, ssrc: 0x1000, payload: [UInt8](repeating: 0, count: 70)
    ).bytes
    let joined = relay
    Benchmark(
        "ForwardAPacketToThree",
        configuration: configuration(timeUnits: .nanoseconds, maxDuration: .seconds(2))
    ) { benchmark in
        var relay = joined
        precondition(
            packet.withUnsafeBytes { relay.receive(datagram: $0, from: "127.0.0.1:6002") }.count == 1,
            "the room of 4 did not form")
        packet.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations { blackHole(relay.receive(datagram: bytes, from: "127.0.0.1:6002")) }
        }
    }
}
