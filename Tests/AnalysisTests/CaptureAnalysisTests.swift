import Foundation
import SeamlessTestKit
import Testing

@testable import Analysis

/// The capture analysis on pcaps written byte by byte with known answers.
@Suite struct CaptureAnalysisTests {
    static let t0: Int64 = 1_764_000_000_000_000
    static let relay = ("127.100.0.1", UInt16(7000))
    static let listener = ("127.100.0.3", UInt16(7000))

    static func analyse(_ builder: PcapBuilder) throws -> CaptureReport {
        try builder.bytes.withUnsafeBytes { try CaptureAnalysis.analyse($0) }
    }

    /// One 20 ms, 16 kHz voice packet per sequence number in `order`, arriving 20 ms apart.
    static func stream(
        _ order: [Int], link: PcapBuilder.Link = .ethernet, from: (String, UInt16) = relay,
        to: (String, UInt16) = listener
    ) -> PcapBuilder {
        var builder = PcapBuilder(link: link)
        for (slot, sequence) in order.enumerated() {
            builder.udp(
                at: t0 + Int64(slot) * 20_000, from: from, to: to,
                payload: rtpBytes(
                    sequence: UInt16(sequence % 65536), timestamp: UInt32(sequence * 320), ssrc: 0x1A2B_3C4D))
        }
        return builder
    }

    @Test func lossDuplicatesAndReorderingAreCountedApart() throws {
        // 0...99 with 10...14 missing, 20...22 each arriving twice, 30/31 and 50/51 swapped.
        var order: [Int] = []
        for sequence in 0..<100 where !(10...14).contains(sequence) {
            order.append(sequence)
            if (20...22).contains(sequence) { order.append(sequence) }
        }
        for pair in [30, 50] {
            let index = order.firstIndex(of: pair)!
            order.swapAt(index, index + 1)
        }
        let report = try Self.analyse(Self.stream(order))
        let stream = try #require(report.streams.first)
        #expect(report.streams.count == 1)
        #expect(stream.ssrc == "0x1a2b3c4d")
        #expect(stream.receiver == "127.100.0.3:7000")
        #expect(stream.senders == ["127.100.0.1:7000"])
        #expect(stream.packets == 95)
        #expect(stream.lost == 5)
        #expect(stream.duplicates == 3)
        #expect(stream.reordered == 2)
        // Arrivals are 20 ms apart; a duplicate's slot carries nothing new, so the longest
        // time without a new packet is two slots.
        #expect(stream.maxGapMs == 40)
        #expect(report.capture.rtpPackets == 98)
        #expect(report.capture.udpPackets == 98)
        #expect(report.capture.packets == 98)
    }

    @Test func sequenceNumbersWrapAround() throws {
        let order = Array(65530...65535) + [65536, 65537, 65539, 65540, 65541]
        let stream = try #require(try Self.analyse(Self.stream(order)).streams.first)
        #expect(stream.packets == 11)
        #expect(stream.lost == 1)
        #expect(stream.reordered == 0)
    }

    @Test func aSenderChangeKeepsOneStreamAndMeasuresTheSeam() throws {
        var builder = PcapBuilder(link: .linuxCooked)
        for sequence in 0..<50 {
            let moved = sequence >= 25
            builder.udp(
                at: Self.t0 + Int64(sequence) * 20_000 + (moved ? 30_000 : 0),
                from: moved ? ("127.100.0.2", 7000) : Self.relay, to: Self.listener,
                payload: rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 320), ssrc: 7))
        }
        let report = try Self.analyse(builder)
        #expect(report.streams.count == 1)
        let stream = try #require(report.streams.first)
        #expect(stream.senders == ["127.100.0.1:7000", "127.100.0.2:7000"])
        #expect(stream.lost == 0)
        #expect(stream.maxGapMs == 50)
    }

    @Test func theSilenceBeforeATalkSpurtIsNotAGap() throws {
        // 0...49, 2 s of silence, then 50...99 with the marker on 50 (a new talk spurt); then a
        // real hole: 300 ms without packets and no marker at 100.
        var builder = PcapBuilder(link: .ethernet)
        var time = Self.t0
        for sequence in 0..<150 {
            time += sequence == 50 ? 2_000_000 : sequence == 100 ? 300_000 : 20_000
            builder.udp(
                at: time, from: Self.relay, to: Self.listener,
                payload: rtpBytes(
                    sequence: UInt16(sequence), timestamp: UInt32(sequence * 320 + (sequence >= 50 ? 100 * 320 : 0)),
                    ssrc: 9, marker: sequence == 50))
        }
        let stream = try #require(try Self.analyse(builder).streams.first)
        #expect(stream.lost == 0)
        #expect(stream.maxGapMs == 300)
        let detail = try #require(try Self.analyse(builder).details.first)
        #expect(detail.arrivals.filter(\.startsTalkSpurt).map(\.sequence) == [50])
    }

    @Test func aLostFirstPacketOfATalkSpurtIsAGapOfTwoFramesNotTheSilence() throws {
        // Every packet arrives at its media time: 0...49, 2 s of silence, then 51...99 (50, the
        // marked one, is lost). The gap is the two frame intervals from 49 to 51.
        var builder = PcapBuilder(link: .ethernet)
        for sequence in 0..<100 where sequence != 50 {
            let timestamp = sequence * 320 + (sequence >= 50 ? 100 * 320 : 0)
            builder.udp(
                at: Self.t0 + Int64(timestamp) * 1_000_000 / 16000, from: Self.relay, to: Self.listener,
                payload: rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(timestamp), ssrc: 9))
        }
        let stream = try #require(try Self.analyse(builder).streams.first)
        #expect(stream.lost == 1)
        #expect(stream.maxGapMs == 40)
        let detail = try #require(try Self.analyse(builder).details.first)
        #expect(detail.arrivals.map(\.silenceMicroseconds).filter { $0 > 0 } == [2_000_000])
    }

    @Test func eachReceiverHasItsOwnStream() throws {
        var builder = PcapBuilder(link: .raw)
        for sequence in 0..<10 {
            for port in [UInt16(7001), 7002] {
                builder.udp(
                    at: Self.t0 + Int64(sequence) * 20_000, from: Self.relay, to: ("127.100.0.3", port),
                    payload: rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 320), ssrc: 9))
            }
        }
        let report = try Self.analyse(builder)
        #expect(report.streams.map(\.receiver) == ["127.100.0.3:7001", "127.100.0.3:7002"])
        #expect(report.streams.allSatisfy { $0.packets == 10 && $0.lost == 0 })
    }

    /// A speaker's stream at a relay's data socket, 0-49, then 150-199 at the same address from a
    /// shell that peer bound 10 s later (100-149 went to another host in between).
    static func speakerToARelayBoundTwice() -> PcapBuilder {
        var builder = PcapBuilder(link: .raw)
        for sequence in Array(0..<50) + Array(150..<200) {
            let later: Int64 = sequence >= 150 ? 10_000_000 : 0
            builder.udp(
                at: Self.t0 + Int64(sequence) * 20_000 + later, from: ("127.100.0.2", 41081),
                to: ("127.100.0.1", 51826),
                payload: rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 320), ssrc: 5))
        }
        return builder
    }

    @Test func anAddressBoundAgainIsANewReceiver() throws {
        let bytes = Self.speakerToARelayBoundTwice().bytes
        var bindings = SocketBindings()
        bindings.add("127.100.0.1:51826", at: Self.t0 - 1_000_000)
        bindings.add("127.100.0.1:51826", at: Self.t0 + 5_000_000)
        bindings.add("127.100.0.9:51826", at: Self.t0 + 2_000_000)
        let report = try bytes.withUnsafeBytes { try CaptureAnalysis.analyse($0, bindings: bindings) }
        #expect(report.streams.map(\.receiver) == ["127.100.0.1:51826", "127.100.0.1:51826"])
        #expect(report.streams.map(\.packets) == [50, 50])
        #expect(report.streams.allSatisfy { $0.lost == 0 && $0.maxGapMs == 20 })
        #expect(report.capture.rtpPackets == 100)
        // Without the run's bindings the two sockets are one receiver, missing 100-149.
        let bare = try bytes.withUnsafeBytes { try CaptureAnalysis.analyse($0) }
        #expect(bare.streams.map(\.lost) == [100])
    }

    @Test func jitterFollowsRFC3550() throws {
        // Arrivals alternate 18 and 22 ms apart; timestamps advance 20 ms. The reference below
        // is RFC 3550's estimator written out independently.
        var builder = PcapBuilder(link: .ethernet)
        var arrivals: [Int64] = []
        var now = Self.t0
        for sequence in 0..<200 {
            arrivals.append(now)
            builder.udp(
                at: now, from: Self.relay, to: Self.listener,
                payload: rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 320), ssrc: 3))
            now += sequence % 2 == 0 ? 18_000 : 22_000
        }
        var expected = 0.0
        for index in 1..<arrivals.count {
            let d = Double(arrivals[index] - arrivals[index - 1]) / 1000 - 20  // ms
            expected += (abs(d) - expected) / 16
        }
        let stream = try #require(try Self.analyse(builder).streams.first)
        #expect(abs(stream.jitterMs - expected) < 1e-9)
        #expect(abs(stream.jitterMs - 2) < 0.01)  // the estimator converges to the mean |D|
    }

    @Test(arguments: [PcapBuilder.Link.ethernet, .linuxCooked, .linuxCooked2, .raw, .null, .loop])
    func everyLinkTypeGivesTheSameFigures(link: PcapBuilder.Link) throws {
        for (from, to) in [(Self.relay, Self.listener), (("2001:db8::1", UInt16(7000)), ("2001:db8::3", UInt16(7000)))]
        {
            let report = try Self.analyse(Self.stream(Array(0..<20) + Array(21..<30), link: link, from: from, to: to))
            let stream = try #require(report.streams.first)
            #expect(stream.packets == 29)
            #expect(stream.lost == 1)
            #expect(report.capture.malformedPackets == 0)
        }
        let v6 = try Self.analyse(Self.stream(Array(0..<5), link: link, from: ("2001:db8::1", 5), to: ("::1", 6)))
        #expect(v6.streams.first?.receiver == "[::1]:6")
    }

    @Test func byteOrderAndTimestampResolutionDoNotMatter() throws {
        var reference: CaptureReport?
        for (bigEndian, nanoseconds) in [(false, false), (true, false), (false, true), (true, true)] {
            var builder = PcapBuilder(link: .ethernet, bigEndian: bigEndian, nanoseconds: nanoseconds)
            for sequence in 0..<5 {
                builder.udp(
                    at: Self.t0 + Int64(sequence) * 20_000 + 7, from: Self.relay, to: Self.listener,
                    payload: rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 320), ssrc: 1))
            }
            let report = try Self.analyse(builder)
            #expect(report.capture.start == Double(Self.t0 + 7) / 1e6)
            if let reference { #expect(report == reference) } else { reference = report }
        }
    }

    @Test func otherTrafficIsCountedNotMisread() throws {
        var builder = Self.stream(Array(0..<10))
        builder.udp(at: Self.t0, from: ("127.100.0.4", 53), to: ("127.100.0.5", 53), payload: Array("hello".utf8))
        // Looks like RTP but is alone on its SSRC: not a stream.
        builder.udp(
            at: Self.t0, from: Self.relay, to: Self.listener, payload: rtpBytes(sequence: 1, timestamp: 0, ssrc: 99))
        // RTCP (packet type 200 reads as marker + payload type 72).
        for index in 0..<3 {
            builder.udp(
                at: Self.t0 + Int64(index), from: Self.relay, to: Self.listener,
                payload: [0x80, 0xC8, 0, 6] + [UInt8](repeating: 0, count: 24))
        }
        builder.tcp(at: Self.t0, from: ("127.100.0.4", 7000), to: ("127.100.0.5", 7000), payload: [1, 2, 3])
        builder.record(
            microseconds: Self.t0,
            frame: [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x06] + [UInt8](repeating: 0, count: 28))  // ARP
        // A cut IPv4 packet.
        builder.record(
            microseconds: Self.t0, frame: [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45, 0, 0x05, 0xDC])
        let report = try Self.analyse(builder)
        #expect(report.streams.count == 1)
        #expect(report.capture.rtpPackets == 10)
        #expect(report.capture.nonRtpUdpPackets == 5)
        #expect(report.capture.tcpPackets == 1)
        #expect(report.capture.otherPackets == 1)
        #expect(report.capture.malformedPackets == 1)
        #expect(report.capture.packets == 18)
    }

    @Test func aTruncatedCaptureReportsItsOffsetAndKeepsWhatCameBefore() throws {
        let builder = Self.stream(Array(0..<10))
        // Each record: 16-byte header + 14 Ethernet + 20 IPv4 + 8 UDP + 14 RTP = 72 bytes.
        let cut = Array(builder.bytes.dropLast(30))
        let report = try cut.withUnsafeBytes { try CaptureAnalysis.analyse($0) }
        #expect(report.capture.partial)
        #expect(report.capture.error == "truncated record at byte \(24 + 9 * 72): 56 bytes announced, 26 left")
        #expect(report.capture.packets == 9)
        #expect(report.streams.first?.packets == 9)
    }

    @Test func aCorruptRecordLengthIsReportedWithItsOffset() throws {
        var bytes = Self.stream(Array(0..<5)).bytes
        let offset = 24 + 3 * 72
        bytes.replaceSubrange((offset + 8)..<(offset + 12), with: [0xFF, 0xFF, 0xFF, 0x7F])
        let report = try bytes.withUnsafeBytes { try CaptureAnalysis.analyse($0) }
        #expect(report.capture.error == "corrupt record at byte \(offset): length 2147483647")
        #expect(report.capture.packets == 3)
    }

    @Test func filesThatAreNotPcapsAreNamedPlainly() {
        func failure(_ bytes: [UInt8]) -> CaptureError? {
            do {
                _ = try bytes.withUnsafeBytes { try CaptureAnalysis.analyse($0) }
                return nil
            } catch {
                return error as? CaptureError
            }
        }
        #expect(failure([1, 2, 3]) == .pcap(.truncatedFileHeader(length: 3)))
        #expect(failure(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) == .pcap(.notAPcap(magic: 0x4745_5420)))
        let unknown = PcapBuilder(link: .ethernet, linkTypeValue: 147).bytes
        #expect(failure(unknown) == .unknownLinkType(147))
        #expect(
            CaptureError.unknownLinkType(147).description.hasPrefix(
                "unknown link type 147; understood: 0 (BSD loopback)"))
    }
}

@Suite struct BandwidthTests {
    @Test func bytesPerHostAndClassInHundredMillisecondWindows() throws {
        let t0 = CaptureAnalysisTests.t0
        var builder = PcapBuilder(link: .ethernet)
        for sequence in 0..<10 {  // 56-byte frames, five per window
            builder.udp(
                at: t0 + Int64(sequence) * 20_000, from: ("127.100.0.1", 7000), to: ("127.100.0.3", 7000),
                payload: rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 320), ssrc: 5))
        }
        // 47 bytes of UDP, 57 of TCP.
        builder.udp(at: t0 + 50_000, from: ("127.100.0.4", 53), to: ("127.100.0.5", 53), payload: Array("hello".utf8))
        builder.tcp(at: t0 + 250_000, from: ("127.100.0.4", 5000), to: ("127.100.0.5", 7000), payload: [1, 2, 3])
        let bandwidth = try CaptureAnalysisTests.analyse(builder).bandwidth
        #expect(bandwidth.windowMs == 100)
        #expect(bandwidth.start == Double(t0) / 1e6)
        #expect(bandwidth.classes == ["voice", "overlay", "other"])
        #expect(bandwidth.hosts.map(\.address) == ["127.100.0.1", "127.100.0.3", "127.100.0.4", "127.100.0.5"])
        let speaker = bandwidth.hosts[0]
        #expect(speaker.sent[0] == [280, 280, 0])
        #expect(speaker.sentBytes == 560)
        #expect(speaker.receivedBytes == 0)
        #expect(speaker.received == [[], [], []])
        #expect(speaker.sent[1] == [])
        #expect(bandwidth.hosts[1].received[0] == [280, 280, 0])
        let other = bandwidth.hosts[2]
        #expect(other.sent[2] == [47, 0, 0])
        #expect(other.sent[1] == [0, 0, 57])
        #expect(bandwidth.hosts[3].receivedBytes == 104)
    }

    @Test func longCapturesMergeWindowsToBoundTheSeries() throws {
        var builder = PcapBuilder(link: .raw)
        // 1,000 s of one packet per second: 10,000 windows of 100 ms become 5,000 of 200 ms.
        for second in 0..<1000 {
            builder.udp(
                at: CaptureAnalysisTests.t0 + Int64(second) * 1_000_000, from: ("10.0.0.1", 1), to: ("10.0.0.2", 2),
                payload: [1])
        }
        let bandwidth = try CaptureAnalysisTests.analyse(builder).bandwidth
        #expect(bandwidth.windowMs == 200)
        #expect(bandwidth.hosts[0].sent[2].count == 4996)
        #expect(bandwidth.hosts[0].sent[2].reduce(0, +) == 1000 * 29)
    }
}

/// pcapng, Wireshark's default format: the same capture converted by Wireshark's own editcap
/// must give the same figures.
@Suite(.enabled(if: access("/usr/bin/editcap", X_OK) == 0, "editcap (from wireshark-common) is missing"))
struct PcapNGTests {
    static func convert(_ builder: PcapBuilder, extraArguments: [String] = []) throws -> [UInt8] {
        let folder = temporaryDirectory("pcapng")
        try Data(builder.bytes).write(to: URL(fileURLWithPath: folder + "/in.pcap"))
        let editcap = try ChildProcess(
            "/usr/bin/editcap", extraArguments + ["-F", "pcapng", folder + "/in.pcap", folder + "/out.pcapng"],
            stderrPath: folder + "/err")
        #expect(editcap.waitForExit(within: .seconds(20)))
        #expect(editcap.exitStatus == 0)
        return Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/out.pcapng")))
    }

    @Test func editcapsPcapngGivesTheSameFigures() throws {
        var order = Array(0..<60)
        order.remove(at: 17)
        order.insert(33, at: 40)
        let builder = CaptureAnalysisTests.stream(order, link: .linuxCooked)
        let classic = try CaptureAnalysisTests.analyse(builder)
        let converted = try Self.convert(builder)
        #expect(converted.prefix(4) == [0x0A, 0x0D, 0x0D, 0x0A])
        let next = try converted.withUnsafeBytes { try CaptureAnalysis.analyse($0) }
        #expect(next.streams == classic.streams)
        #expect(next.capture.packets == classic.capture.packets)
        #expect(next.capture.linkType == "Linux cooked (SLL)")
        #expect(next.bandwidth == classic.bandwidth)
    }

    @Test func aTruncatedPcapngReportsItsOffset() throws {
        let converted = try Self.convert(CaptureAnalysisTests.stream(Array(0..<10)))
        let cut = Array(converted.dropLast(20))
        let report = try cut.withUnsafeBytes { try CaptureAnalysis.analyse($0) }
        #expect(report.capture.partial)
        #expect(report.capture.error?.hasPrefix("truncated record at byte ") == true)
        #expect(report.capture.packets < 10 && report.capture.packets >= 8)
    }
}
