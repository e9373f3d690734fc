import PropertyBased
import SeamlessTestKit
import Testing

@testable import Analysis

/// Whatever the network does to a known stream (any mix of loss, duplication and reordering,
/// sequence numbers wrapping anywhere), the tracker's counts are exactly the ones that follow
/// from what arrived, computed here from the arrivals by the definitions themselves.
@Suite struct StreamTrackerPropertyTests {
    /// One packet's fate, from a code 0...999: lost (1 in 10); sent once more (1 in 10);
    /// held back 1-9 frames (3 in 10: the hundreds digit, when 7 or more, then 1-3 times it).
    struct Fate {
        var lost: Bool
        var copies: Int
        var delayFrames: Int

        init(code: Int) {
            lost = code % 10 == 0
            copies = (code / 10) % 10 == 0 ? 2 : 1
            let digit = code / 100
            delayFrames = digit >= 7 ? (digit - 6) * 3 : 0
        }
    }

    /// What a receiver must report for these arrivals (sequence numbers as sent, unwrapped).
    static func expected(_ arrivals: [Int]) -> (packets: Int, lost: Int, duplicates: Int, reordered: Int) {
        var seen: Set<Int> = []
        var highest = Int.min
        var reordered = 0
        for sequence in arrivals where seen.insert(sequence).inserted {
            if sequence < highest { reordered += 1 }
            highest = max(highest, sequence)
        }
        return (seen.count, seen.max()! - seen.min()! + 1 - seen.count, arrivals.count - seen.count, reordered)
    }

    @Test func anyLossDuplicationAndReorderingGivesExactlyTheKnownCounts() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...999).array(of: 20...400), Gen.int(in: 0...65535)) {
            codes, start in
            // The first four packets arrive as sent, so the key looks like a stream at once.
            let fates = codes.enumerated().map { $0.offset < 4 ? Fate(code: 500) : Fate(code: $0.element) }
            var sent: [(arrival: Int64, sequence: Int)] = []
            for (index, fate) in fates.enumerated() where !fate.lost {
                for copy in 0..<fate.copies {
                    sent.append((Int64(index + fate.delayFrames) * 20_000 + Int64(copy) * 300 + Int64(index), index))
                }
            }
            let arrivals = sent.sorted { $0.arrival < $1.arrival }
            var builder = PcapBuilder(link: .raw)
            for arrival in arrivals {
                builder.udp(
                    at: 1_764_000_000_000_000 + arrival.arrival, from: ("192.0.2.1", 4000), to: ("192.0.2.2", 5004),
                    payload: rtpBytes(
                        sequence: UInt16((start + arrival.sequence) % 65536),
                        timestamp: UInt32(arrival.sequence * 320), ssrc: 0xC0DE))
            }
            let report = try builder.bytes.withUnsafeBytes { try CaptureAnalysis.analyse($0) }
            let want = Self.expected(arrivals.map(\.sequence))
            let stream = try #require(report.streams.first)
            #expect(report.streams.count == 1)
            #expect(stream.packets == want.packets)
            #expect(stream.lost == want.lost)
            #expect(stream.duplicates == want.duplicates)
            #expect(stream.reordered == want.reordered)
            #expect(report.capture.rtpPackets == arrivals.count)
        }
    }
}
