import Foundation
import SeamlessTestKit
import Testing

@testable import Analysis

/// The judge on streams nobody on this project sent: frames that change length, codecs at
/// other clock rates, traffic that only looks like RTP, and addresses as other tools print
/// them. Every capture is written byte by byte with a known answer.
@Suite struct StreamJudgementTests {
    static let t0: Int64 = 1_764_000_000_000_000
    static let sender = ("192.0.2.1", UInt16(40000))
    static let receiver = ("192.0.2.2", UInt16(5004))

    /// One packet: its sequence number, timestamp, arrival (µs after t0) and marker.
    struct Packet {
        var sequence: Int
        var timestamp: Int
        var arrival: Int64
        var marker = false
        var payload: [UInt8] = [0xAB, 0xCD]
    }

    static func capture(
        _ packets: [Packet], payloadType: UInt8 = 97, ssrc: UInt32 = 0x5EED_0001,
        before: (inout PcapBuilder) -> Void = { _ in }
    ) -> PcapBuilder {
        var builder = PcapBuilder(link: .ethernet)
        before(&builder)
        for packet in packets {
            builder.udp(
                at: t0 + packet.arrival, from: sender, to: receiver,
                payload: rtpBytes(
                    sequence: UInt16(packet.sequence & 0xFFFF), timestamp: UInt32(truncatingIfNeeded: packet.timestamp),
                    ssrc: ssrc, payloadType: payloadType, marker: packet.marker, payload: packet.payload))
        }
        return builder
    }

    static func analyse(_ builder: PcapBuilder, clockRate: Int = 16000) throws -> CaptureReport {
        try builder.bytes.withUnsafeBytes { try CaptureAnalysis.analyse($0, dynamicClockRate: clockRate) }
    }

    /// `count` packets `frame` units apart, each arriving `interval` µs after the one before.
    static func run(from sequence: Int, count: Int, timestamp: Int, frame: Int, at arrival: Int64, interval: Int64)
        -> [Packet]
    {
        (0..<count).map {
            Packet(sequence: sequence + $0, timestamp: timestamp + $0 * frame, arrival: arrival + Int64($0) * interval)
        }
    }

    // MARK: The frame of a stream

    @Test func anOddTimestampStepDoesNotTurnAGapIntoSilence() throws {
        // A GStreamer sender: 20 ms frames (320 units at 16 kHz), whose second half starts with
        // a 177-unit step. Then 59 -> 62 takes 61.6 ms, and 60 and 61 arrive after 62.
        var packets = Self.run(from: 0, count: 50, timestamp: 0, frame: 320, at: 0, interval: 20_000)
        packets += Self.run(from: 50, count: 10, timestamp: 49 * 320 + 177, frame: 320, at: 1_000_000, interval: 20_000)
        let last = packets.last!
        packets.append(Packet(sequence: 62, timestamp: last.timestamp + 3 * 320, arrival: last.arrival + 61_600))
        packets.append(Packet(sequence: 60, timestamp: last.timestamp + 320, arrival: last.arrival + 62_000))
        packets.append(Packet(sequence: 61, timestamp: last.timestamp + 640, arrival: last.arrival + 62_400))
        packets += Self.run(
            from: 63, count: 20, timestamp: last.timestamp + 4 * 320, frame: 320, at: last.arrival + 80_000,
            interval: 20_000)
        let stream = try #require(try Self.analyse(Self.capture(packets)).streams.first)
        #expect(stream.reordered == 2)
        #expect(stream.lost == 0)
        #expect(abs(stream.maxGapMs - 61.6) < 0.001)
    }

    @Test func aCodecChangingItsFrameLengthKeepsItsRealGaps() throws {
        // WhatsApp-like: 20, then 60, then 160 ms frames; then 220 ms between two consecutive
        // sequence numbers one 160 ms frame apart in media time, no marker: a 220 ms gap.
        var packets = Self.run(from: 0, count: 30, timestamp: 0, frame: 320, at: 0, interval: 20_000)
        packets += Self.run(from: 30, count: 20, timestamp: 30 * 320, frame: 960, at: 600_000, interval: 60_000)
        packets += Self.run(
            from: 50, count: 20, timestamp: 30 * 320 + 20 * 960, frame: 2560, at: 1_800_000, interval: 160_000)
        let last = packets.last!
        packets.append(Packet(sequence: 70, timestamp: last.timestamp + 2560, arrival: last.arrival + 220_000))
        let stream = try #require(try Self.analyse(Self.capture(packets)).streams.first)
        #expect(stream.lost == 0)
        #expect(abs(stream.maxGapMs - 220) < 0.001)
    }

    @Test func aMarkedTalkSpurtStillExcludesTheSpeakersSilence() throws {
        // Consecutive sequence numbers 2 s of media apart, the second marked: silence, not a gap.
        var packets = Self.run(from: 0, count: 50, timestamp: 0, frame: 320, at: 0, interval: 20_000)
        var spurt = Self.run(
            from: 50, count: 50, timestamp: 49 * 320 + 32_000, frame: 320, at: 2_980_000, interval: 20_000)
        spurt[0].marker = true
        packets += spurt
        let stream = try #require(try Self.analyse(Self.capture(packets)).streams.first)
        #expect(abs(stream.maxGapMs - 20) < 0.001)
    }

    @Test func aPayloadThatSaysItsDurationSetsTheFrame() throws {
        // PCMU: 160 bytes are 160 units (20 ms at 8 kHz); one packet of 480 bytes (60 ms) is
        // followed after 60 ms by the next: its own duration accounts for the time, no gap,
        // no silence; and a lost packet after it counts as one 20 ms frame.
        var packets: [Packet] = []
        var timestamp = 0
        var arrival: Int64 = 0
        for sequence in 0..<40 {
            let bytes = sequence == 20 ? 480 : 160
            packets.append(
                Packet(
                    sequence: sequence, timestamp: timestamp, arrival: arrival,
                    payload: Array(repeating: 0xFF, count: bytes)))
            timestamp += bytes
            arrival += Int64(bytes) * 125
        }
        let stream = try #require(try Self.analyse(Self.capture(packets, payloadType: 0)).streams.first)
        #expect(stream.clockRate == 8000)
        #expect(stream.clockRateSource == .static)
        #expect(stream.encoding == "PCMU")
        #expect(abs(stream.maxGapMs - 60) < 0.001)
        #expect(stream.jitterMs < 1e-9)
    }

    // MARK: Clock rates

    @Test func opusAt48kHzIsEstimatedFromItsTimestamps() throws {
        let packets = Self.run(from: 0, count: 150, timestamp: 0, frame: 960, at: 0, interval: 20_000)
        let stream = try #require(try Self.analyse(Self.capture(packets, payloadType: 111)).streams.first)
        #expect(stream.clockRate == 48000)
        #expect(stream.clockRateSource == .estimated)
        // Taken at 16 kHz, a clean stream would show 13 ms of jitter.
        #expect(stream.jitterMs < 1e-9)
    }

    @Test func anSDPInTheCaptureGivesTheRateAndTheCodec() throws {
        // The INVITE's SDP says the receiver expects payload type 111 as opus/48000; the
        // packets' TOC bytes (CELT fullband, 20 ms) give each one's duration.
        let sdp =
            [
                "v=0", "o=- 1 1 IN IP4 192.0.2.2", "s=-", "c=IN IP4 192.0.2.2", "t=0 0",
                "m=audio 5004 RTP/AVP 111 101", "a=rtpmap:111 opus/48000/2", "a=rtpmap:101 telephone-event/8000",
            ].joined(separator: "\r\n") + "\r\n"
        let invite =
            "INVITE sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060\r\nContent-Type: application/sdp\r\n"
            + "Content-Length: \(sdp.utf8.count)\r\n\r\n" + sdp
        var packets = Self.run(from: 0, count: 20, timestamp: 0, frame: 960, at: 0, interval: 20_000)
        for index in packets.indices { packets[index].payload = [0xF8, 0x01, 0x02] }
        let builder = Self.capture(packets, payloadType: 111) { builder in
            builder.udp(
                at: Self.t0 - 1_000_000, from: ("192.0.2.1", 5060), to: ("192.0.2.2", 5060), payload: Array(invite.utf8)
            )
        }
        let stream = try #require(try Self.analyse(builder).streams.first)
        #expect(stream.clockRate == 48000)
        #expect(stream.clockRateSource == .sdp)
        #expect(stream.encoding == "opus")
        #expect(stream.jitterMs < 1e-9)
    }

    @Test func l16At44kHzIsAStaticRate() throws {
        // Payload type 11: L16 mono, 44.1 kHz; 441 samples (882 bytes) every 10 ms.
        var packets = Self.run(from: 0, count: 100, timestamp: 0, frame: 441, at: 0, interval: 10_000)
        for index in packets.indices { packets[index].payload = Array(repeating: 0, count: 882) }
        let stream = try #require(try Self.analyse(Self.capture(packets, payloadType: 11)).streams.first)
        #expect(stream.clockRate == 44100)
        #expect(stream.clockRateSource == .static)
        #expect(stream.jitterMs < 1e-9)
    }

    @Test func videoAt90kHzIsEstimatedThoughFramesSpanPackets() throws {
        // 30 frames a second, three packets each with the frame's timestamp.
        var packets: [Packet] = []
        for frame in 0..<120 {
            for part in 0..<3 {
                packets.append(
                    Packet(
                        sequence: frame * 3 + part, timestamp: frame * 3000,
                        arrival: Int64(frame) * 33_333 + Int64(part) * 1000))
            }
        }
        let stream = try #require(try Self.analyse(Self.capture(packets, payloadType: 96)).streams.first)
        #expect(stream.clockRate == 90000)
        #expect(stream.clockRateSource == .estimated)
        #expect(stream.packets == 360)
    }

    @Test func aShortStreamFallsBackToTheFlagAndNoFlagTraps() throws {
        let packets = Self.run(from: 0, count: 6, timestamp: 0, frame: 320, at: 0, interval: 20_000)
        let stream = try #require(try Self.analyse(Self.capture(packets)).streams.first)
        #expect(stream.clockRateSource == .flag)
        #expect(stream.clockRate == 16000)
        for rate in [0, -5, Int.max, Int.min] {
            let odd = try #require(try Self.analyse(Self.capture(packets), clockRate: rate).streams.first)
            #expect(CaptureAnalysis.acceptedClockRates.contains(odd.clockRate))
            #expect(odd.jitterMs.isFinite)
        }
    }

    // MARK: What only looks like RTP

    @Test func dnsQueriesAreSetAsideNotStreams() throws {
        // Queries whose ids start with 0x80 look like RTP version 2 with no CSRCs: constant
        // "sequence numbers" (the flags), "timestamps" (the counts) and "SSRC" on one key.
        var builder = PcapBuilder(link: .ethernet)
        for query in 0..<50 {
            let id = UInt16(0x8000 | (query * 37 % 128))
            let payload: [UInt8] =
                [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0] + [7] + Array("example".utf8)
                + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
            builder.udp(
                at: Self.t0 + Int64(query) * 50_000, from: ("192.0.2.9", 53_000), to: ("192.0.2.53", 53),
                payload: payload)
        }
        let report = try Self.analyse(builder)
        #expect(report.streams.isEmpty)
        #expect(report.capture.setAsidePackets == 50)
        #expect(report.capture.nonRtpUdpPackets == 50)
        #expect(report.capture.rtpPackets == 0)
    }

    @Test func rtcpOnTheRTPPortIsToldApart() throws {
        // RFC 5761: an RTP stream and its RTCP (SR 200, APP 204, and types 199 and 205, which
        // RTP would read as payload types 71 and 77) on one port.
        var packets = Self.run(from: 0, count: 50, timestamp: 0, frame: 320, at: 0, interval: 20_000)
        packets.removeAll { $0.sequence == 25 }
        var builder = Self.capture(packets)
        for (index, type) in [UInt8(199), 200, 204, 205].enumerated() {
            let rtcp: [UInt8] = [0x80, type, 0, 6] + [0x5E, 0xED, 0, 1] + Array(repeating: 0, count: 20)
            builder.udp(
                at: Self.t0 + Int64(index) * 250_000 + 5_000, from: Self.sender, to: Self.receiver, payload: rtcp)
        }
        let report = try Self.analyse(builder)
        #expect(report.streams.count == 1)
        #expect(report.capture.rtcpPackets == 4)
        let stream = try #require(report.streams.first)
        #expect(stream.packets == 49)
        #expect(stream.lost == 1)
        #expect(stream.duplicates == 0)
        #expect(stream.reordered == 0)
    }

    @Test func randomBytesOnManyKeysNeverBecomeStreams() throws {
        var generator = SystemRandomNumberGenerator()
        var builder = PcapBuilder(link: .raw)
        for index in 0..<2000 {
            var payload = (0..<40).map { _ in UInt8.random(in: 0...255, using: &generator) }
            payload[0] = 0x80
            builder.udp(at: Self.t0 + Int64(index) * 100, from: Self.sender, to: Self.receiver, payload: payload)
        }
        let report = try Self.analyse(builder)
        #expect(report.streams.isEmpty)
        #expect(report.capture.setAsidePackets + report.capture.rtcpPackets <= 2000)
        #expect(report.capture.setAsidePackets > 1500)
    }

    @Test func rtpOverTCPIsReportedAsSkipped() throws {
        var builder = PcapBuilder(link: .ethernet)
        for sequence in 0..<20 {
            let packet = rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 320), ssrc: 7)
            builder.tcp(
                at: Self.t0 + Int64(sequence) * 20_000, from: ("192.0.2.1", 554), to: ("192.0.2.2", 40000),
                payload: [0, UInt8(packet.count)] + packet)
        }
        let report = try Self.analyse(builder)
        #expect(report.streams.isEmpty)
        #expect(report.capture.skipped.count == 1)
        #expect(report.capture.skipped.first?.flow == "192.0.2.1:554 -> 192.0.2.2:40000")
        #expect(report.capture.skipped.first?.packets == 20)
    }

    // MARK: Addresses as other tools print them

    @Test(arguments: [
        ("2001:4860:4864:6:0:0:0:81", "2001:4860:4864:6::81"), ("::1", "::1"), ("::", "::"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), ("fe80:0:0:0:0:0:0:0", "fe80::"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"), ("2001:DB8::A", "2001:db8::a"),
    ])
    func ipv6AddressesArePrintedAsRFC5952Says(written: String, printed: String) throws {
        let address = try #require(Endpoint.parseAddress(written))
        let endpoint = Endpoint(high: address.high, low: address.low, isV6: true, port: 5004)
        #expect(endpoint.host == printed)
        #expect(endpoint.description == "[\(printed)]:5004")
    }
}

/// The frame estimate on its own: the most common of the last 16 steps, ties to the newest.
@Suite struct FrameEstimatorTests {
    static func frame(after steps: [Int64]) -> Int64? {
        var estimator = FrameEstimator()
        for step in steps { estimator.add(step: step) }
        return estimator.frame
    }

    @Test func theMostCommonOfTheLastSixteenStepsWins() {
        #expect(Self.frame(after: []) == nil)
        #expect(Self.frame(after: [320]) == 320)
        #expect(Self.frame(after: [320, 177, 320, 320]) == 320)
        // A change of frame length takes over once it is the most common in the window.
        #expect(Self.frame(after: Array(repeating: 320, count: 16) + Array(repeating: 960, count: 8)) == 960)
        #expect(Self.frame(after: Array(repeating: 320, count: 16) + Array(repeating: 960, count: 7)) == 320)
        // Ties go to the value seen most recently.
        #expect(Self.frame(after: [320, 960]) == 960)
        #expect(Self.frame(after: [960, 320, 960, 320]) == 320)
        #expect(Self.frame(after: Array(repeating: 1, count: 40) + [2, 3, 2, 3] + Array(repeating: 1, count: 12)) == 1)
    }
}
