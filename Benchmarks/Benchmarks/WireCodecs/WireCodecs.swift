// The wire codecs on every packet's and message's path: RTP's header (read per voice packet by
// the relay and the judge), Chord's envelopes (every DHT message), the session messages of the
// persistent connections, and the late datagrams a migration's source forwards. Each
// iteration encodes or decodes 1,000 values; time and allocations are per value (×1000 on
// the throughput line).
import Benchmark
import DHT
import Mobility
import RTP
import Support

let benchmarks: @Sendable () -> Void = {
    let perValue = configuration(timeUnits: .nanoseconds, maxDuration: .seconds(2))

    let voice = RTPPacket(
        marker: false, payloadType: 97, sequenceNumber: 4711, timestamp: 160 * 4711, ssrc: 0x1A2B_3C4D,
        payload: [UInt8](repeating: 0x55, count: 70))
    let voiceBytes = voice.bytes
    Benchmark("RTPHeaderDecode", configuration: perValue) { benchmark in
        voiceBytes.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations { blackHole(try? RTPHeader(bytes: bytes)) }
        }
    }
    Benchmark("RTPPacketEncode", configuration: perValue) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(voice.bytes) }
    }

    let asker = NodeRef(host: "127.0.0.1", port: 7001)
    let successors = (2...9).map { NodeRef(host: "127.0.0.\($0)", port: 7000) }
    let lookup = ChordEnvelope(
        sender: asker, message: .findSuccessor(request: 42, key: ChordID.hashing("voice-relay/room-1")))
    let neighbours = ChordEnvelope(
        sender: asker, message: .neighbours(request: 43, predecessor: successors[0], successors: successors))
    let lookupBytes = ChordWire.encode(lookup)
    let neighboursBytes = ChordWire.encode(neighbours)
    Benchmark("ChordFindSuccessorEncode", configuration: perValue) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(ChordWire.encode(lookup)) }
    }
    Benchmark("ChordFindSuccessorDecode", configuration: perValue) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try? ChordWire.decode(lookupBytes)) }
    }
    // A stabilization answer: a predecessor and 8 successors.
    Benchmark("ChordNeighboursDecode", configuration: perValue) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try? ChordWire.decode(neighboursBytes)) }
    }

    let request = SessionMessage.request(sequence: 7, body: [UInt8](repeating: 1, count: 32))
    let requestFrame = request.frame
    Benchmark("SessionRequestEncode", configuration: perValue) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(request.frame) }
    }
    Benchmark("SessionRequestDecode", configuration: perValue) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try? SessionMessage(frame: requestFrame)) }
    }

    let late = LateDatagram(
        migration: 3, traffic: LateTraffic.data(sender: "127.0.0.5:6001", packet: voiceBytes).bytes)
    let lateBytes = late.bytes
    Benchmark("LateDatagramDecode", configuration: perValue) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try? LateDatagram(bytes: lateBytes)) }
    }
}
