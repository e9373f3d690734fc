import ControlProtocol
import GameWire
import SeamlessTestKit
import Testing

@testable import Analysis

/// With what the emulated links dropped (drops.pcap), every hole in a stream is the network's or
/// the service's: a packet dropped on its way to the receiver, or to a host that sends the stream
/// on (the relay, a target receiving late data), is the network's; any other hole the peers'.
@Suite struct NetworkDropsTests {
    static let t0 = CaptureAnalysisTests.t0
    static let (speaker, relay, target) = ("127.100.0.2", "127.100.0.1", "127.100.0.5")
    static let (first, second, bot) = ("127.100.0.3", "127.100.0.4", "127.100.0.6")
    static let ssrc: UInt32 = 42

    static func packet(_ sequence: Int) -> [UInt8] {
        rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 320), ssrc: ssrc)
    }

    /// The late datagram a source sends its target, carrying `packet` from the speaker.
    static func late(_ packet: [UInt8]) -> [UInt8] {
        let sender = Array("\(speaker):9000".utf8)
        return [0x4D, 0x4C, 1] + [UInt8](repeating: 0, count: 7) + [9] + [1, 0, UInt8(sender.count)] + sender
            + [0, UInt8(packet.count)] + packet
    }

    static func tick(_ number: UInt32) -> [UInt8] {
        GameTick(tick: number, players: [GameTick.Player(id: 1, x: 0, y: 0, score: 0, lastInput: 0, inputsApplied: 0)])
            .bytes
    }

    /// Seq 0..<50 from the speaker to the relay and on to two listeners, 20 ms apart inside the
    /// handoff window. Seq 3 never reaches the relay (dropped on its way there); seq 5 is dropped
    /// on its way to the first listener; seq 8 reaches the relay, whose late datagram to the
    /// target is dropped; seq 7 never reaches the second listener and no link dropped it. The
    /// world's ticks 0..<40 go to a bot: tick 4 dropped on its way, tick 6 missing otherwise.
    static func captures() -> (capture: PcapBuilder, drops: PcapBuilder) {
        var capture = PcapBuilder(link: .raw)
        var drops = PcapBuilder(link: .raw)
        for sequence in 0..<50 {
            let at = t0 + 1_200_000 + Int64(sequence) * 20_000
            let bytes = packet(sequence)
            if sequence == 3 {
                drops.udp(at: at, from: (speaker, 9000), to: (relay, 9100), payload: bytes)
                continue
            }
            capture.udp(at: at, from: (speaker, 9000), to: (relay, 9100), payload: bytes)
            if sequence == 8 {
                drops.udp(at: at + 500, from: (relay, 9100), to: (target, 9200), payload: late(bytes))
                continue
            }
            if sequence == 5 {
                drops.udp(at: at + 1_000, from: (relay, 9100), to: (first, 9300), payload: bytes)
            } else {
                capture.udp(at: at + 1_000, from: (relay, 9100), to: (first, 9300), payload: bytes)
            }
            if sequence != 7 {
                capture.udp(at: at + 1_000, from: (relay, 9100), to: (second, 9400), payload: bytes)
            }
        }
        for number in UInt32(0)..<40 {
            let at = t0 + 1_000_000 + Int64(number) * 50_000
            if number == 4 {
                drops.udp(at: at, from: (relay, 9100), to: (bot, 9500), payload: tick(number))
            } else if number != 6 {
                capture.udp(at: at, from: (relay, 9100), to: (bot, 9500), payload: tick(number))
            }
        }
        return (capture, drops)
    }

    @Test func everyHoleIsTheNetworksOrThePeers() throws {
        let (capture, dropped) = Self.captures()
        let drops = try dropped.bytes.withUnsafeBytes { try NetworkDrops($0) }
        #expect(drops.packets == 4 && drops.error == nil)
        let events =
            HandoffAnalysisTests.events + [
                HandoffAnalysisTests.at(
                    0.5, "peer-1", .deployed(service: "arena", kind: GameEvent.kind, control: "", data: ""))
            ]
        var report = RunReport(events: events)
        report.attach(try CaptureAnalysisTests.analyse(capture), drops: drops, events: events)
        func stream(to host: String) throws -> StreamFigures {
            try #require(report.streams.first { $0.receiver.hasPrefix(host + ":") })
        }
        #expect(try stream(to: Self.relay).lost == 1 && stream(to: Self.relay).lostByNetwork == 1)
        #expect(try stream(to: Self.first).lost == 3 && stream(to: Self.first).lostByNetwork == 3)
        #expect(try stream(to: Self.second).lost == 3 && stream(to: Self.second).lostByNetwork == 2)
        let ticks = try #require(report.game?.ticks.first)
        #expect(ticks.lost == 2 && ticks.lostByNetwork == 1)
        // The window holds all of it: 1 + 3 + 3 RTP and 2 ticks lost, 7 of them by the links.
        let handoff = try #require(report.handoffs.first)
        #expect(handoff.lost == 9 && handoff.lostByNetwork == 7 && handoff.lostByService == 2)
        // The largest gap: ticks 5 and 7 are 100 ms apart, and 6 was not the network's; at the
        // first listener 2 and 4 are 40 ms apart, less the 20 ms of the dropped 3.
        #expect(handoff.maxGapMs == 100 && handoff.maxServiceGapMs == 100)
        let loss = try #require(report.handoffLoss)
        #expect(loss.insideLostByService == 2 && loss.outsideLostByService == 0)
        #expect(report.capture?.networkDrops == 4)
        #expect(report.text().contains("(7 by the network, 2 by the peers)"))
    }

    @Test func theServicesGapLeavesOutTheFramesTheNetworkDropped() {
        // 20 ms frames inside the window; 5, 12 and 13 dropped by the links, 16 lost otherwise.
        let arrivals = (0..<30).filter { ![5, 12, 13, 16].contains($0) }.map {
            StreamDetail.Arrival(
                microseconds: Self.t0 + 1_200_000 + Int64($0) * 20_000, sequence: $0, duplicate: false,
                reordered: false)
        }
        var detail = StreamDetail(arrivals: arrivals, gapHistogram: [])
        detail.lostByNetwork = [5, 12, 13]
        #expect(detail.framePeriodMicroseconds == 20_000)
        var handoffs = HandoffAnalysis.handoffs(from: HandoffAnalysisTests.events)
        HandoffAnalysis.measure(&handoffs, streams: [detail], hostTraffic: [], addresses: [:], networkKnown: true)
        #expect(handoffs[0].maxGapMs == 60 && handoffs[0].maxServiceGapMs == 40)
        #expect(handoffs[0].lost == 4 && handoffs[0].lostByService == 1)
    }

    @Test func withoutADropsCaptureNothingIsAttributed() throws {
        var report = RunReport(events: HandoffAnalysisTests.events)
        report.attach(try CaptureAnalysisTests.analyse(Self.captures().capture), events: HandoffAnalysisTests.events)
        #expect(report.streams.allSatisfy { $0.lostByNetwork == nil })
        #expect(report.handoffs.first?.lostByService == nil && report.handoffLoss?.insideLostByService == nil)
    }

    @Test func aLateDatagramIsReadByItsDocumentedLayoutAndNothingElseIs() {
        let packet = Self.packet(8)
        Self.late(packet).withUnsafeBytes { bytes in
            #expect(NetworkDrops.lateDatagramPacket(bytes).map(Array.init) == packet)
            #expect(NetworkDrops.lateDatagramPacket(UnsafeRawBufferPointer(rebasing: bytes.dropLast())) == nil)
        }
        var wrongVersion = Self.late(packet)
        wrongVersion[2] = 2
        wrongVersion.withUnsafeBytes { #expect(NetworkDrops.lateDatagramPacket($0) == nil) }
    }

    @Test func aCorruptDropsCaptureKeepsWhatCameBeforeAndSaysWhere() throws {
        var bytes = Self.captures().drops.bytes
        let offset = bytes.count
        // A record announcing 2 GiB after the four good ones.
        bytes += [UInt8](repeating: 0, count: 8) + [0xFF, 0xFF, 0xFF, 0x7F] + [UInt8](repeating: 0, count: 4)
        let drops = try bytes.withUnsafeBytes { try NetworkDrops($0) }
        #expect(drops.packets == 4)
        #expect(drops.error?.contains("at byte \(offset)") == true, "\(drops.error ?? "no error")")
    }
}
