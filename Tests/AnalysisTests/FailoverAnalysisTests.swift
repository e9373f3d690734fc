import ControlProtocol
import Testing

@testable import Analysis

/// A failover's figures: its times from events.jsonl, and from the arrivals what each receiver
/// went without between the old host's last word and the new host's first packet.
@Suite struct FailoverAnalysisTests {
    typealias At = HandoffAnalysisTests

    static func phase(_ seconds: Double, _ peer: String, _ phase: String) -> EventLine {
        At.at(
            seconds, peer,
            .migrationPhase(migration: "m7", service: "arena", from: "peer-1", to: "peer-2", phase: phase))
    }

    /// Tick k at k × 50 ms up to `end` seconds, but none inside `silence`.
    static func ticks(until end: Double, silence: ClosedRange<Double>) -> StreamDetail {
        let arrivals = (0...Int(end * 20)).filter { !silence.contains(Double($0) * 0.05) }.map { tick in
            StreamDetail.Arrival(
                microseconds: At.t0 + Int64(tick) * 50_000, sequence: tick, duplicate: false, reordered: false)
        }
        return StreamDetail(arrivals: arrivals, gapHistogram: [])
    }

    @Test func theSilenceRunsFromTheOldHostsLastWordToEachReceiversFirstPacket() {
        let events = [
            Self.phase(1.0, "peer-1", "prepare"), Self.phase(1.002, "peer-2", "prepare"),
            Self.phase(1.003, "peer-1", "sync"), Self.phase(1.004, "peer-2", "sync"),
            Self.phase(14.0, "peer-2", "failover"), Self.phase(14.0, "peer-2", "release"),
        ]
        var failovers = FailoverAnalysis.failovers(from: events)
        #expect(
            failovers == [
                FailoverFigures(
                    migration: "m7", service: "arena", from: "peer-1", to: "peer-2",
                    lastHeardAt: Double(At.t0) / 1e6 + 1.003, takenOverAt: Double(At.t0) / 1e6 + 14,
                    silenceMs: 12_997)
            ])
        // One receiver gets ticks again 50 ms after the takeover (the 260 ticks in between were
        // never sent); one never again; a stream that had ended long before is no receiver of it.
        let resumed = Self.ticks(until: 20, silence: 1.04...14.04)
        let gone = Self.ticks(until: 1.0, silence: 2...3)
        let ended = Self.ticks(until: 0.2, silence: 5...6)
        // The new host's first tick may come a moment before its takeover event is stamped.
        let early = Self.ticks(until: 20, silence: 1.04...13.99)
        FailoverAnalysis.measure(
            &failovers,
            streams: [
                ("ticks", "127.100.0.3:7001", resumed), ("ticks", "127.100.0.4:7001", gone),
                ("0x2a", "127.100.0.5:7000", ended), ("ticks", "127.100.0.6:7001", early),
            ])
        let receivers = failovers[0].receivers ?? []
        #expect(receivers.map(\.receiver) == ["127.100.0.3:7001", "127.100.0.4:7001", "127.100.0.6:7001"])
        let first = receivers[0]
        #expect(abs((first.firstPacketAt ?? 0) - (Double(At.t0) / 1e6 + 14.05)) < 0.001, "\(first)")
        #expect(abs((first.gapMs ?? 0) - 13_050) < 1, "\(first)")
        #expect(receivers[1].firstPacketAt == nil && receivers[1].gapMs == nil)
        #expect(abs((receivers[2].firstPacketAt ?? 0) - (Double(At.t0) / 1e6 + 14.0)) < 0.001, "\(receivers[2])")
        #expect(abs((receivers[2].gapMs ?? 0) - 13_000) < 1 && receivers[2].lost == 259, "\(receivers[2])")
        #expect(failovers[0].maxGapMs == first.gapMs)
        #expect(first.lost == 260 && failovers[0].lost == 519)
    }

    @Test func aStandbysTakeoverIsTimedFromItsOwnEventAndItsStandbysFromThePrimarys() {
        let events = [
            At.at(2.0, "peer-5", .standbys(service: "voice", epoch: 1, wanted: 1, peers: ["peer-6"])),
            At.at(
                12.17, "peer-6",
                .failover(
                    service: "voice", from: "peer-5", to: "peer-6", epoch: 2, silenceMs: 170, claimMs: 5)),
            // The old host's word after its wake-up and another service's standbys count for nothing.
            At.at(12.18, "peer-5", .standbys(service: "voice", epoch: 1, wanted: 0, peers: [])),
            At.at(12.19, "peer-6", .standbys(service: "other", epoch: 2, wanted: 1, peers: ["peer-1"])),
            At.at(12.2, "peer-6", .standbys(service: "voice", epoch: 2, wanted: 1, peers: ["peer-2"])),
        ]
        let failovers = FailoverAnalysis.failovers(from: events)
        #expect(failovers.count == 1)
        let failover = failovers[0]
        let t = Double(At.t0) / 1e6
        #expect(failover.migration == "" && failover.from == "peer-5" && failover.to == "peer-6" && failover.epoch == 2)
        #expect(abs(failover.lastHeardAt - (t + 12.0)) < 1e-6 && abs(failover.takenOverAt - (t + 12.17)) < 1e-6)
        #expect(abs((failover.detectedAt ?? 0) - (t + 12.165)) < 1e-6)
        #expect(failover.silenceMs == 170 && failover.replicasRestoredMs == 30)
        // The count over time: each primary's changes, in order.
        let counts = ReplicaCount.timeline(from: events).filter { $0.service == "voice" }
        #expect(counts.map(\.primary) == ["peer-5", "peer-5", "peer-6"])
        #expect(counts.map(\.count) == [1, 0, 1] && counts.map(\.epoch) == [1, 1, 2])
    }

    @Test func theOldHostsOwnClaimOfTheEpochIsWhenItStopped() {
        let events = [
            At.at(3, "peer-2", .failoverPhase(service: "voice", epoch: 2, phase: "claim", quietMs: 150)),
            // A claim of another service, of another epoch, or by a third peer is not its stop.
            At.at(3.05, "peer-1", .failoverPhase(service: "game", epoch: 2, phase: "claim", quietMs: 101)),
            At.at(3.06, "peer-1", .failoverPhase(service: "voice", epoch: 3, phase: "claim", quietMs: 102)),
            At.at(3.07, "peer-3", .failoverPhase(service: "voice", epoch: 2, phase: "claim", quietMs: 103)),
            At.at(3.08, "peer-1", .failoverPhase(service: "voice", epoch: 2, phase: "claim", quietMs: 112.5)),
            At.at(
                3.16, "peer-2",
                .failover(service: "voice", from: "peer-1", to: "peer-2", epoch: 2, silenceMs: 160, claimMs: 5)),
        ]
        let failover = FailoverAnalysis.failovers(from: events).first
        #expect(
            abs((failover?.fromStoppedAt ?? 0) - (Double(At.t0) / 1e6 + 3.08)) < 1e-6, "\(String(describing: failover))"
        )
        #expect(failover?.fromStoppedMs == 112.5)
        // A host that crashed never says it stopped.
        #expect(FailoverAnalysis.failovers(from: Array(events.suffix(1))).first?.fromStoppedAt == nil)
    }

    @Test func aStandbyThatNeverGetsItsOwnStandbysLeavesTheRestoreOpen() {
        let events = [
            At.at(
                5, "peer-2",
                .failover(service: "arena", from: "peer-1", to: "peer-2", epoch: 3, silenceMs: 160, claimMs: 4)),
            At.at(6, "peer-2", .standbys(service: "arena", epoch: 3, wanted: 2, peers: ["peer-3"])),
        ]
        #expect(FailoverAnalysis.failovers(from: events).first?.replicasRestoredMs == nil)
    }
}
