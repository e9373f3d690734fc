import ControlProtocol
import Foundation
import SeamlessTestKit
import Testing
import VoiceWire

@testable import Analysis

/// Files the judge must survive: clocks that jump by years or run backwards, timestamps in
/// any resolution, counters at the end of the integers, bytes that are not text. Each of
/// these once trapped, hung or asked for gigabytes.
@Suite struct HostileInputTests {
    static let t0 = StreamJudgementTests.t0

    static func analyse(_ bytes: [UInt8]) throws -> CaptureReport {
        try bytes.withUnsafeBytes { try CaptureAnalysis.analyse($0) }
    }

    /// A pcapng file: section header, one raw-IP interface with `options`, then one enhanced
    /// packet block per (timestamp units, packet).
    static func pcapng(options: [UInt8], packets: [(units: UInt64, data: [UInt8])]) -> [UInt8] {
        func word(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        func half(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
            let padded = body + Array(repeating: 0, count: (4 - body.count % 4) % 4)
            let length = UInt32(12 + padded.count)
            return word(type) + word(length) + padded + word(length)
        }
        var bytes = block(0x0A0D_0D0A, word(0x1A2B_3C4D) + half(1) + half(0) + Array(repeating: 0xFF, count: 8))
        bytes += block(1, half(101) + half(0) + word(65535) + options + [0, 0, 0, 0])
        for packet in packets {
            bytes += block(
                6,
                word(0) + word(UInt32(packet.units >> 32)) + word(UInt32(truncatingIfNeeded: packet.units))
                    + word(UInt32(packet.data.count)) + word(UInt32(packet.data.count)) + packet.data)
        }
        return bytes
    }

    static var datagram: [UInt8] {
        PcapBuilder(link: .raw).ip(17, "192.0.2.1", "192.0.2.2", [0x13, 0x88, 0x13, 0x88, 0, 10, 0, 0, 0xAB, 0xCD])
    }

    @Test func packetsYearsApartCostNoMoreThanPacketsSecondsApart() throws {
        // Two packets 2^32 - 1 s apart asked for 343 GB of bandwidth windows; a third stamped
        // before the first moves the start back.
        var builder = PcapBuilder(link: .raw)
        let packet = Self.datagram
        builder.record(microseconds: 1_000_000, frame: packet)
        builder.record(microseconds: Int64(UInt32.max) * 1_000_000, frame: packet)
        builder.record(microseconds: 0, frame: packet)
        let report = try Self.analyse(builder.bytes)
        #expect(report.capture.packets == 3)
        #expect(report.bandwidth.start == 0)
        #expect(report.capture.start == 0)
        #expect(report.capture.end == Double(UInt32.max))
        let series = report.bandwidth.hosts.flatMap { $0.sent + $0.received }.filter { !$0.isEmpty }
        #expect(!series.isEmpty)
        #expect(series.allSatisfy { $0.count <= BandwidthMeter.maximumWindows })
        #expect(series.allSatisfy { $0.reduce(0, +) == 3 * packet.count })
    }

    @Test(
        arguments: [
            [9, 0, 1, 0] + [18, 0, 0, 0],  // if_tsresol 10^-18
            [9, 0, 1, 0] + [0x80 | 127, 0, 0, 0],  // 2^-127
            [9, 0, 1, 0] + [0, 0, 0, 0],  // whole seconds
            [9, 0, 1, 0] + [0x80 | 63, 0, 0, 0],  // 2^-63
            [14, 0, 8, 0] + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],  // if_tsoffset Int64.max
            [14, 0, 8, 0] + [0, 0, 0, 0, 0, 0, 0, 0x80],  // if_tsoffset Int64.min
        ] as [[UInt8]])
    func pcapngTimestampsOfAnyResolutionAndOffsetNeverTrap(options: [UInt8]) throws {
        let bytes = Self.pcapng(
            options: options,
            packets: [(0xFFFF_FFFF_FFFF_FFFF, Self.datagram), (0, Self.datagram), (1 << 40, Self.datagram)])
        let report = try Self.analyse(bytes)
        #expect(report.capture.packets == 3)
        #expect(report.capture.partial == false)
        let start = try #require(report.capture.start)
        let end = try #require(report.capture.end)
        #expect(start <= end)
        _ = report.html(file: "hostile.pcapng")
        _ = report.text(file: "hostile.pcapng")
    }

    @Test func nanosecondPcapngKeepsItsMicroseconds() throws {
        let bytes = Self.pcapng(
            options: [9, 0, 1, 0, 9, 0, 0, 0], packets: [(1_764_000_000_123_456_789, Self.datagram)])
        #expect(try Self.analyse(bytes).capture.start == 1_764_000_000.123456)
    }

    @Test func aClockRunningBackwardsStillGivesAReportAndItsCharts() throws {
        // A stream whose capture times run backwards: the charts' ranges were built from the
        // first to the last arrival and trapped.
        var builder = PcapBuilder(link: .ethernet)
        for sequence in 0..<30 {
            builder.udp(
                at: Self.t0 - Int64(sequence) * 20_000, from: ("192.0.2.1", 5004), to: ("192.0.2.2", 5004),
                payload: rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 320), ssrc: 9))
        }
        let report = try Self.analyse(builder.bytes)
        let stream = try #require(report.streams.first)
        #expect(stream.packets == 30)
        #expect(HTMLReportTests.check(report.html(file: "backwards.pcap")) != nil)
        var run = RunReport(events: LifecycleAnalysisTests.run)
        run.attach(report, events: LifecycleAnalysisTests.run)
        #expect(HTMLReportTests.check(run.html()) != nil)
    }

    @Test func countersAtTheEndOfTheIntegersAreSummedWithoutTrapping() {
        let big = Int(1) << 62
        let events =
            LifecycleAnalysisTests.run
            + (0..<4).map { index in
                EventLine(
                    t: Timestamp(microseconds: 1_764_000_000_000_000 + Int64(index)), peer: "peer-\(index + 1)",
                    event: VoiceEvent.heard(
                        service: "voice", ssrc: "0x0000000\(index)", file: "a.wav", frames: big, concealed: big,
                        silent: big, packets: big, malformed: big
                    ).event)
            } + [
                EventLine(
                    t: Timestamp(microseconds: 1_764_000_000_000_009), peer: "peer-1",
                    event: VoiceEvent.speaking(
                        service: "voice", ssrc: "0x00000000", audio: "a.wav", from: 0, frames: 1, slot: Int.min
                    ).event),
                EventLine(
                    t: Timestamp(microseconds: 1_764_000_000_000_010), peer: "peer-1",
                    event: VoiceEvent.speaking(
                        service: "voice", ssrc: "0x00000000", audio: "a.wav", from: 0, frames: 1, slot: big
                    ).event),
            ]
        let report = RunReport(events: events)
        #expect(report.text().contains("\(Int.max) frames heard"))
        #expect(HTMLReportTests.check(report.html()) != nil)
    }

    @Test func aBadByteInEventsJsonlCostsOneLineNotTheReport() {
        let good = EventLine(t: Timestamp(microseconds: 1_764_000_000_000_000), peer: "peer-1", event: .leaving).line
        let bad: [UInt8] = Array("{\"t\":1,\"peer\":\"p\u{e9}\",\"event\":\"leaving\"}".utf8).map {
            $0 == 0xA9 ? 0xFF : $0
        }
        let far = "{\"t\":9.3e12,\"peer\":\"peer-1\",\"event\":\"leaving\"}\n"
        let data = Data(Array(good.utf8) + bad + [0x0A] + Array(far.utf8) + Array(good.utf8))
        let (events, unreadable) = ReportFiles.events(in: data)
        #expect(events.count == 2)
        #expect(unreadable.count == 2)
        #expect(unreadable.first?.offset == good.utf8.count)
        #expect(unreadable.first?.reason.hasPrefix("not UTF-8 (byte 0xc3 at \(good.utf8.count + 16))") == true)
        #expect(unreadable.last?.reason.contains("outside") == true)
    }
}
