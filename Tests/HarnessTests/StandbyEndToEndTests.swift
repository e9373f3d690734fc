import Analysis
import ControlProtocol
import Foundation
import SeamlessTestKit
import Testing

@testable import Harness

/// Hot standbys with real peers: a relay deployed with `replicas: 1` gets a standby that holds
/// its state; when its host crashes the standby takes it over under the next epoch, its
/// listeners hear the rest of the turn, and it recruits a standby of its own; a host that hangs
/// and wakes after the takeover stops without a word to a client.
@Suite(.serialized, .timeLimit(.minutes(2))) struct StandbyEndToEndTests {
    /// A relay on peer-4 with one standby, three listeners (one speaks for 6 s from 2 s), and
    /// `fault` at 5 s.
    static func relay(_ name: String, fault: String, replicas: Int = 1) -> String {
        """
        \(HostFaultEndToEndTests.head(name, seed: 5, peers: 5))
          - at: 1s
            deploy: {peer: peer-4, service: voice, kind: voice-relay, replicas: \(replicas)}
          - at: 1.5s
            clients: {service: voice, peers: [peer-1, peer-2, peer-3]}
          - at: 2s
            clients: {service: voice, peers: [peer-1], speak: Testbed/audio/reference.wav, from: 0s, for: 6s}
        \(fault)
          - at: 10s
            stop:
        """
    }

    /// What every standby run shows: one failover from peer-4 under epoch 2, after the standby
    /// the host chose held the state, and a standby of the new host's own soon after.
    static func checkFailover(_ report: RunReport, _ events: [EventLine]) throws -> FailoverFigures {
        let failover = try #require(report.failovers.first, "no failover: \(report.text())")
        #expect(report.failovers.count == 1)
        #expect(failover.from == "peer-4" && failover.to != "peer-4" && failover.epoch == 2, "\(failover)")
        let first = try #require(report.replicas.first, "no standbys: \(report.text())")
        #expect(first.primary == "peer-4" && first.standbys == [failover.to] && first.at < failover.takenOverAt)
        #expect(failover.replicasRestoredMs != nil, "\(report.replicas)")
        #expect(
            report.replicas.contains { $0.primary == failover.to && $0.count == 1 && $0.epoch == 2 },
            "\(report.replicas)")
        try checkHeardFrom(failover, report)
        return failover
    }

    /// The relay the failover's new host runs forwarded the rest of the turn; with a capture,
    /// every receiver heard it, and no stream had a packet twice or out of order.
    static func checkHeardFrom(_ failover: FailoverFigures, _ report: RunReport) throws {
        let voice = try #require(report.voice)
        #expect(voice.relays.contains { $0.peer == failover.to && $0.forwarded > 0 }, "\(voice.relays)")
        guard getuid() == 0 else { return }
        let receivers = failover.receivers ?? []
        #expect(!receivers.isEmpty && receivers.allSatisfy { $0.firstPacketAt != nil }, "\(receivers)")
        #expect(report.streams.allSatisfy { $0.duplicates == 0 && $0.reordered == 0 }, "\(report.streams)")
    }

    @Test func aCrashedRelaysStandbyTakesItOverAndTheListenersHearTheRest() async throws {
        let (report, events) = try await HostFaultEndToEndTests.run(
            Self.relay("standby-crash", fault: "  - at: 5s\n    crash: {host-of: voice}"))
        #expect(report.peers.crashed == 1 && report.peers.failed == 0 && report.peers.killed == 0, "\(report.text())")
        let failover = try Self.checkFailover(report, events)
        // The standby learned of the crash from the heartbeats' silence, not a closed socket.
        #expect(failover.silenceMs >= 150, "\(failover)")
    }

    @Test func aHostThatHangsIsReplacedAndStopsWhenItWakes() async throws {
        let (report, events) = try await HostFaultEndToEndTests.run(
            Self.relay("standby-hang", fault: "  - at: 5s\n    pause: peer-4\n  - at: 7s\n    resume: peer-4"))
        #expect(report.peers.failed == 0 && report.peers.killed == 0, "\(report.text())")
        let failover = try Self.checkFailover(report, events)
        // Woken, the old host finds the next epoch held and stops serving.
        let stopped = try #require(
            events.first { line in
                if case .serviceFailed("voice", let reason) = line.event {
                    line.peer == "peer-4" && reason.contains("superseded")
                } else {
                    false
                }
            }, "the old host never stopped")
        #expect(stopped.t.seconds > failover.takenOverAt)
    }

    /// A fault at a failover's phase: the standby, armed to crash the moment it has a standby
    /// of its own again after it took over, does; that standby takes the service over in turn,
    /// under the next epoch, and the listeners hear the rest of the turn from it.
    @Test func aStandbyThatCrashesAsItsOwnStandbyIsReadyIsReplacedByThatOne() async throws {
        let (report, events) = try await HostFaultEndToEndTests.run(
            Self.relay(
                "standby-chain",
                fault:
                    "  - at: 4s\n    crash: {replica-of: voice, at-phase: restored}\n  - at: 5s\n    crash: {host-of: voice}"
            ))
        #expect(report.peers.crashed == 2 && report.peers.failed == 0 && report.peers.killed == 0, "\(report.text())")
        try #require(report.failovers.count == 2, "\(report.text())")
        let (first, second) = (report.failovers[0], report.failovers[1])
        #expect(first.from == "peer-4" && first.epoch == 2, "\(first)")
        #expect(second.from == first.to && second.to != "peer-4" && second.epoch == 3, "\(second)")
        #expect(second.replicasRestoredMs != nil, "\(report.replicas)")
        // The first standby crashed at its phase: its `restored` never got out (nor the events
        // still queued behind the announcement of its standby).
        let restored = events.filter { line in
            if case .failoverPhase("voice", _, "restored", _) = line.event { line.peer == first.to } else { false }
        }
        #expect(restored.isEmpty, "\(restored)")
        // The standbys are the ring's nearest, and the ring's identifiers differ from run to run:
        // a first standby on the speaker's peer took the speaker down with it.
        guard first.to != "peer-1" else { return }
        try Self.checkHeardFrom(second, report)
    }

    /// With two standbys, one crashes; the primary claims the next epoch without it and is
    /// armed to crash the moment the registry stored that claim, before its other standby heard
    /// of it. That standby's claim of the same epoch is refused; the record names its own silent
    /// primary, so it claims the next one and serves.
    @Test func aPrimaryThatCrashesAsItReclaimsIsReplacedByItsOtherStandby() async throws {
        let fault = """
              - at: 4s
                crash: {host-of: voice, at-phase: claimed}
              - at: 5s
                crash: {replica-of: voice}
            """
        let (report, events) = try await HostFaultEndToEndTests.run(
            Self.relay("standby-reclaim", fault: fault, replicas: 2))
        #expect(report.peers.crashed == 2 && report.peers.failed == 0 && report.peers.killed == 0, "\(report.text())")
        let failover = try #require(report.failovers.first, "no failover: \(report.text())")
        #expect(report.failovers.count == 1)
        #expect(failover.from == "peer-4" && failover.epoch == 3, "\(failover)")
        // The primary's claim of epoch 2 was its last word: it crashed at the phase after it.
        let claims = events.compactMap { line -> String? in
            guard case .failoverPhase("voice", let epoch, let phase, _) = line.event else { return nil }
            return "\(line.peer) \(phase) \(epoch)"
        }
        #expect(claims.contains("peer-4 claim 2") && !claims.contains("peer-4 claimed 2"), "\(claims)")
        #expect(claims.contains("\(failover.to) claim 2") && claims.contains("\(failover.to) claim 3"), "\(claims)")
        // A crashed standby on the speaker's peer took the speaker with it.
        guard report.replicas.first?.standbys.first != "peer-1" else { return }
        try Self.checkHeardFrom(failover, report)
    }
}
