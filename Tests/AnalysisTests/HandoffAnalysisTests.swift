import ControlProtocol
import SeamlessTestKit
import Testing

@testable import Analysis

/// A migration's window: its phases from events.jsonl, its figures from the capture.
@Suite struct HandoffAnalysisTests {
    static let t0 = CaptureAnalysisTests.t0

    static func at(_ seconds: Double, _ peer: String, _ event: Event) -> EventLine {
        EventLine(t: Timestamp(microseconds: t0 + Int64((seconds * 1e6).rounded())), peer: peer, event: event)
    }

    static func phase(_ seconds: Double, _ peer: String, _ phase: String) -> EventLine {
        at(
            seconds, peer,
            .migrationPhase(migration: "m1", service: "voice", from: "peer-1", to: "peer-2", phase: phase))
    }

    static let events: [EventLine] = [
        at(0, "peer-1", .spawned(pid: 1, address: "127.100.0.1")),
        at(0, "peer-2", .spawned(pid: 2, address: "127.100.0.2")),
        at(0, "peer-3", .spawned(pid: 3, address: "127.100.0.3")),
        at(0, "peer-4", .spawned(pid: 4, address: "127.100.0.4")),
        phase(1.00, "peer-1", "prepare"), phase(1.05, "peer-1", "replicate"), phase(1.10, "peer-1", "sync"),
        phase(2.000, "peer-1", "commit"), phase(2.012, "peer-2", "takeover"), phase(2.013, "peer-2", "redirect"),
        phase(2.02, "peer-1", "forward"), phase(4.0, "peer-1", "release"),
    ]

    /// Seq k arrives at k × 20 ms from peer-1 up to 100; 101 is lost; from 102 on it comes
    /// from peer-2, 20 ms later than nominal; 103 arrives twice; 150 and 151 swap; 10 is lost
    /// long before the migration.
    static func capture() -> PcapBuilder {
        var builder = PcapBuilder(link: .ethernet)
        var arrivals: [(Int64, Int)] = []
        for sequence in 0..<250 where sequence != 10 && sequence != 101 {
            let delay: Int64 = sequence >= 102 ? 20_000 : 0
            var slot = sequence
            if sequence == 150 { slot = 151 } else if sequence == 151 { slot = 150 }
            arrivals.append((Int64(slot) * 20_000 + delay, sequence))
            if sequence == 103 { arrivals.append((Int64(slot) * 20_000 + delay + 1_000, sequence)) }
        }
        for (time, sequence) in arrivals.sorted(by: { $0.0 < $1.0 }) {
            builder.udp(
                at: t0 + time, from: (sequence >= 102 ? "127.100.0.2" : "127.100.0.1", 7000), to: ("127.100.0.3", 7000),
                payload: rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 320), ssrc: 42))
        }
        // Traffic between the hosts: two overlay packets inside the window (154 + 104 bytes),
        // one outside it, one to a bystander.
        builder.tcp(
            at: t0 + 1_060_000, from: ("127.100.0.1", 7000), to: ("127.100.0.2", 40000),
            payload: [UInt8](repeating: 1, count: 100))
        builder.tcp(
            at: t0 + 2_010_000, from: ("127.100.0.2", 40000), to: ("127.100.0.1", 7000),
            payload: [UInt8](repeating: 1, count: 50))
        // A late packet the source forwards as a datagram (72 bytes), inside the window.
        builder.udp(
            at: t0 + 2_020_000, from: ("127.100.0.1", 40002), to: ("127.100.0.2", 40004),
            payload: [0x4D, 0x4C, 1] + [UInt8](repeating: 2, count: 27))
        builder.tcp(at: t0 + 4_900_000, from: ("127.100.0.1", 7000), to: ("127.100.0.2", 40000), payload: [1])
        builder.tcp(at: t0 + 2_000_000, from: ("127.100.0.1", 7000), to: ("127.100.0.4", 40000), payload: [1])
        return builder
    }

    @Test func phasesComeFromEventsAndTakeoverIsCommitToTakeover() {
        let handoffs = HandoffAnalysis.handoffs(from: Self.events.reversed())
        #expect(handoffs.count == 1)
        let handoff = handoffs[0]
        #expect(
            handoff.phases == ["prepare", "replicate", "sync", "commit", "takeover", "redirect", "forward", "release"])
        #expect(handoff.outcome == "release")
        #expect(handoff.takeoverMs == 12)
        #expect(handoff.commitMs == 1000)
        #expect(handoff.start == Double(Self.t0) / 1e6 + 1)
        #expect(handoff.end == Double(Self.t0) / 1e6 + 4)
        #expect(handoff.lost == nil)  // no capture yet: nothing measured
    }

    @Test func theWindowCountsWhatHappenedAroundTheMigrationOnly() throws {
        var report = RunReport(events: Self.events)
        report.attach(try CaptureAnalysisTests.analyse(Self.capture()), events: Self.events)
        let stream = try #require(report.streams.first)
        #expect(stream.lost == 2)  // 10 and 101 over the whole stream
        #expect(stream.senders == ["127.100.0.1:7000", "127.100.0.2:7000"])
        let handoff = try #require(report.handoffs.first)
        #expect(handoff.lost == 1)  // only 101 is inside the window
        #expect(handoff.duplicates == 1)
        #expect(handoff.reordered == 1)
        #expect(handoff.maxGapMs == 60)
        #expect(handoff.overheadBytes == 154 + 104 + 72)
        // Seq 0...249 less 10 and 101; the window is 0.5 s to 4.5 s: arrivals at 0.5-4.5 s.
        let inside = report.streamDetails[0].arrivals.filter {
            !$0.duplicate && $0.t >= handoff.start - 0.5 && $0.t <= handoff.end + 0.5
        }.count
        #expect(handoff.packets == inside)
        let loss = try #require(report.handoffLoss)
        #expect(loss.insideLost == 1 && loss.outsideLost == 1)
        #expect(loss.insidePackets == inside && loss.outsidePackets == 248 - inside)
        #expect(loss.insideRate == (1.0 / Double(inside + 1) * 1e6).rounded() / 1e6)
        #expect(loss.excessRate == ((loss.insideRate - loss.outsideRate) * 1e6).rounded() / 1e6)
        // The z statistic written out: pooled rate p, standard error sqrt(p(1-p)(1/n1 + 1/n2)).
        let (n1, n2) = (Double(inside + 1), Double(248 - inside + 1))
        let p = 2 / (n1 + n2)
        let z = (1 / n1 - 1 / n2) / (p * (1 - p) * (1 / n1 + 1 / n2)).squareRoot()
        #expect(loss.excessZ == (z * 100).rounded() / 100)
    }

    /// A speaker (peer-4) sends seq k at k × 20 ms, except 80, which its own process sends 16 ms
    /// late; the relay forwards each to peer-3 0.3 ms after, except 100, held 15 ms at the seam.
    @Test func aSpeakersOwnLatenessIsNotTheServicesGap() throws {
        var builder = PcapBuilder(link: .raw)
        for sequence in 0..<200 {
            let sent = Int64(sequence) * 20_000 + (sequence == 80 ? 16_000 : 0)
            let payload = rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 320), ssrc: 77)
            builder.udp(at: Self.t0 + sent, from: ("127.100.0.4", 5000), to: ("127.100.0.1", 7002), payload: payload)
            builder.udp(
                at: Self.t0 + sent + (sequence == 100 ? 15_300 : 300), from: ("127.100.0.1", 7002),
                to: ("127.100.0.3", 5000), payload: payload)
        }
        // peer-4 is a client of the run: its stream to the relay tells when each packet left.
        let events =
            Self.events + [
                Self.at(
                    0.5, "peer-4",
                    .clientJoined(
                        service: "voice", participant: 1, control: "127.100.0.1:7001", data: "127.100.0.1:7002",
                        local: "127.100.0.4:5000"))
            ]
        var report = RunReport(events: events)
        report.attach(try CaptureAnalysisTests.analyse(builder), events: events)
        let handoff = try #require(report.handoffs.first)
        #expect(handoff.maxGapMs == 36)
        #expect(handoff.senderLateMs == 16)
        #expect(handoff.maxServiceGapMs == 35)
        #expect(handoff.lost == 0)
        // Without the run's clients nothing tells when the speaker sent: nothing is left out.
        var bare = RunReport(events: Self.events)
        bare.attach(try CaptureAnalysisTests.analyse(builder), events: Self.events)
        #expect(bare.handoffs.first?.senderLateMs == 0 && bare.handoffs.first?.maxServiceGapMs == 36)
    }

    @Test func theSourceSaysWhatTheMigrationMoved() {
        let events =
            Self.events + [
                Self.at(
                    4.0, "peer-1",
                    .migrationTransfer(
                        migration: "m1", service: "voice", snapshotBytes: 342, compressedBytes: 190, operations: 3,
                        late: 4))
            ]
        let handoff = HandoffAnalysis.handoffs(from: events)[0]
        #expect(handoff.snapshotBytes == 342 && handoff.snapshotCompressedBytes == 190)
        #expect(handoff.operations == 3 && handoff.lateForwarded == 4)
        #expect(HandoffAnalysis.handoffs(from: Self.events)[0].snapshotBytes == nil)
    }

    @Test func theSilenceBeforeATalkSpurtInTheWindowIsNotAGap() {
        var handoffs = HandoffAnalysis.handoffs(from: Self.events)
        // Inside the window: ten packets 20 ms apart, a second of the speaker's silence (980 ms
        // of media time no packet was sent for, as the tracker finds from the timestamps), then
        // a marked packet continuing the sequence and one more 20 ms later.
        let start = Self.t0 + 1_500_000
        var arrivals = (0..<10).map {
            StreamDetail.Arrival(
                microseconds: start + Int64($0) * 20_000, sequence: $0, duplicate: false, reordered: false)
        }
        let resumed = start + 9 * 20_000 + 1_000_000
        arrivals.append(
            .init(
                microseconds: resumed, sequence: 10, duplicate: false, reordered: false, startsTalkSpurt: true,
                silenceMicroseconds: 980_000))
        arrivals.append(.init(microseconds: resumed + 20_000, sequence: 11, duplicate: false, reordered: false))
        HandoffAnalysis.measure(
            &handoffs, streams: [StreamDetail(arrivals: arrivals, gapHistogram: [])], hostTraffic: [], addresses: [:])
        #expect(handoffs[0].maxGapMs == 20)
        #expect(handoffs[0].lost == 0)
    }

    @Test func theHTMLReportChartsEachHandoffWithItsPhasesMarked() throws {
        var report = RunReport(events: Self.events)
        report.attach(try CaptureAnalysisTests.analyse(Self.capture()), events: Self.events)
        let html = report.html()
        let checker = try #require(HTMLReportTests.check(html))
        #expect(checker.externalReferences.isEmpty)
        #expect(checker.elements["svg"] == 4)  // bandwidth, stream, gaps, the handoff
        #expect(html.contains("m1 commit"))
        #expect(html.contains("m1: voice from peer-1 to peer-2, every receiver"))
    }

    @Test func expectationsCanJudgeEveryHandoff() throws {
        var report = RunReport(events: Self.events)
        report.attach(try CaptureAnalysisTests.analyse(Self.capture()), events: Self.events)
        let json = try ReportFiles.jsonValue(report)
        #expect(json["handoffs"]?.serialized.contains("\"takeoverMs\":12") == true)
    }
}
