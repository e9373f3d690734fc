// The judge's whole analysis of a capture: 1,000,000 Ethernet/IPv4/UDP/RTP packets of 12
// speakers in memory (20 ms frames, 0.1 % lost, 0.05 % duplicated, the shape of
// `Benchmarks/make-rtp-pcap.py`), read and measured by `CaptureAnalysis.analyse`: pcap records,
// headers, streams, losses, jitter, bandwidth. Throughput × 1M is packets per second. Its
// allocations vary from iteration to iteration (1,182-1,256 in a full run, p90 1,101 in a
// smoke run), so they are held within 10 %.
import Analysis
import Benchmark
import OverlayCore
import Support

let benchmarks: @Sendable () -> Void = {
    let capture = VoiceCapture(packets: 1_000_000, streams: 12).bytes
    Benchmark(
        "Analyse1MRTPPackets",
        configuration: configuration(
            metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident], timeUnits: .milliseconds,
            scalingFactor: .one, maxDuration: .seconds(10), maxIterations: 15, allocationTolerance: 10)
    ) { _ in
        capture.withUnsafeBytes { bytes in
            blackHole(try? CaptureAnalysis.analyse(bytes))
        }
    }
}

/// A classic pcap of RTP voice: `streams` speakers, one receiver each, a frame every 20 ms per
/// speaker, with a seeded sprinkling of losses and duplicates.
struct VoiceCapture {
    let bytes: [UInt8]

    init(packets: Int, streams: Int) {
        var out: [UInt8] = []
        out.reserveCapacity(24 + packets * 124)
        Self.append(&out, UInt32(0xA1B2_C3D4), UInt16(2), UInt16(4), UInt32(0), UInt32(0), UInt32(65535), UInt32(1))
        var random = SeededGenerator(seed: 1)
        var sequence = (0..<streams).map { _ in UInt16(truncatingIfNeeded: random.next()) }
        var written = 0
        var tick: UInt64 = 0
        while written < packets {
            let stream = Int(tick % UInt64(streams))
            let microseconds = 1_764_000_000_000_000 + tick * 20_000 / UInt64(streams) + random.next() % 2000
            let s = sequence[stream]
            sequence[stream] &+= 1
            tick += 1
            let roll = random.next() % 10_000
            if roll < 10 { continue }  // lost
            for _ in 0..<(roll < 15 ? 2 : 1) where written < packets {
                Self.frame(&out, stream: stream, sequence: s, at: microseconds)
                written += 1
            }
        }
        bytes = out
    }

    static func frame(_ out: inout [UInt8], stream: Int, sequence: UInt16, at microseconds: UInt64) {
        let payload = 70
        let rtp = 12 + payload
        let udp = 8 + rtp
        let ip = 20 + udp
        let frame = 14 + ip
        append(&out, UInt32(microseconds / 1_000_000), UInt32(microseconds % 1_000_000), UInt32(frame), UInt32(frame))
        out += [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]
        out += [0x45, 0, UInt8(ip >> 8), UInt8(ip & 0xFF), 0, 0, 0x40, 0, 64, 17, 0, 0]
        out += [127, 100, 0, 1, 127, 100, 1, UInt8(stream + 1)]
        out += [0x1B, 0x58, 0x1B, 0x58, UInt8(udp >> 8), UInt8(udp & 0xFF), 0, 0]
        let timestamp = UInt32(truncatingIfNeeded: Int(sequence) * 320)
        let ssrc = UInt32(0x1000 + stream)
        out += [0x80, 97, UInt8(sequence >> 8), UInt8(sequence & 0xFF)]
        out += withUnsafeBytes(of: timestamp.bigEndian, Array.init) + withUnsafeBytes(of: ssrc.bigEndian, Array.init)
        out += repeatElement(0, count: payload)
    }

    /// Little-endian words, as the file header and record headers are written here.
    static func append(_ out: inout [UInt8], _ words: any FixedWidthInteger...) {
        for word in words {
            switch word {
            case let value as UInt16: out += withUnsafeBytes(of: value.littleEndian, Array.init)
            case let value as UInt32: out += withUnsafeBytes(of: value.littleEndian, Array.init)
            default: preconditionFailure("16- and 32-bit words only")
            }
        }
    }
}
