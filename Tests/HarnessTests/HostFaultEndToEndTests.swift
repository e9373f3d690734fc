import Analysis
import ControlProtocol
import Foundation
import Scenario
import SeamlessTestKit
import Testing

@testable import Harness

/// Faults at a service's host, with real peers: a leaving host hands its services over first
/// (the shipped `voice-host-leaves.yaml`, whose relay's host leaves in the middle of a turn,
/// aimed at it by `{host-of: voice}`), a lone host that has nobody to hand its service to still
/// leaves in time and says so, and a crash armed at a migration's phase falls exactly there.
@Suite(.serialized, .timeLimit(.minutes(2))) struct HostFaultEndToEndTests {
    @Test func theRelaysHostMovesItToANeighbourBeforeItLeaves() async throws {
        let (result, _) = try await VoiceEndToEndTests.run(shipped: "voice-host-leaves")
        let report = result.report
        #expect(report.peers.failed == 0 && report.peers.killed == 0 && report.peers.left == 1, "\(report.text())")
        let handoff = try #require(report.handoffs.first, "no handoff: \(report.text())")
        #expect(report.handoffs.count == 1)
        #expect(handoff.cause == "leave" && handoff.from == "peer-5" && handoff.to != "peer-5", "\(handoff)")
        #expect(handoff.outcome == "release", "\(handoff.phases)")
        for phase in ["prepare", "replicate", "sync", "commit", "takeover", "redirect", "forward", "release"] {
            #expect(handoff.phases.contains(phase), "no \(phase) in \(handoff.phases)")
        }
        let (events, _) = try ReportFiles.readEvents(at: result.folder.events)
        let handovers = events.compactMap { line -> (String, Event)? in
            if case .handover = line.event { (line.peer, line.event) } else { nil }
        }
        #expect(handovers.count == 1)
        #expect(
            handovers.first?.1
                == .handover(
                    service: "voice", migration: handoff.migration, to: handoff.to, outcome: "moved", reason: ""))
        // The peer left only after the relay was released: its leave waited for the handover.
        let release = try #require(
            events.first {
                if case .migrationPhase(_, _, _, _, "release") = $0.event { $0.peer == "peer-5" } else { false }
            })
        let exited = try #require(
            events.first { if case .exited = $0.event { $0.peer == "peer-5" } else { false } })
        #expect(exited.t.seconds >= release.t.seconds)
        // The state moved whole: the relay's last host counted every packet of the 16 s turn.
        let voice = try #require(report.voice, "no voice section")
        #expect(voice.relays.map(\.received) == [800])
        if getuid() == 0 {
            #expect(handoff.lost == 0 && handoff.duplicates == 0 && handoff.reordered == 0, "\(handoff)")
            #expect(report.streams.allSatisfy { $0.lost == 0 && $0.duplicates == 0 }, "\(report.streams)")
        }
    }

    /// A scenario's first lines: its peers spawned, ready, and in one ring (through peer-1).
    static func head(_ name: String, seed: Int, peers: Int) -> String {
        """
        name: \(name)
        seed: \(seed)
        peers: \(peers)
        timeline:
          - at: 0s
            spawn: all
          - at: 0s
            wait: {until: ready, timeout: 20s}
          - at: 0s
            join: {peers: all, via: peer-1}
        """
    }

    /// Runs a scenario given as text in a folder of its own: its report and its events.
    static func run(_ yaml: String) async throws -> (report: RunReport, events: [EventLine]) {
        let result = try await TestbedRun.execute(
            try Scenario.parse(yaml, file: "fault.yaml"), source: yaml,
            options: TestbedRunEndToEndTests.options(temporaryDirectory("e2e-fault")))
        return (result.report, try ReportFiles.readEvents(at: result.folder.events).events)
    }

    static let alone = """
        \(head("alone", seed: 3, peers: 1))
          - at: 1s
            deploy: {peer: peer-1, service: arena, kind: game}
          - at: 2s
            leave: peer-1
          - at: 5s
            stop:
        """

    @Test func aHostWithNobodyToTakeItsServiceSaysSoAndLeavesInTime() async throws {
        let (report, events) = try await Self.run(Self.alone)
        #expect(report.peers.left == 1 && report.peers.killed == 0, "\(report.text())")
        let handover = try #require(
            events.first { if case .handover = $0.event { true } else { false } }, "no handover event")
        guard case .handover("arena", "", "", "failed", let reason) = handover.event else {
            Issue.record("\(handover.event)")
            return
        }
        #expect(reason.contains("no peer would take it"), "\(reason)")
        let leaveSent = try #require(events.first { $0.event == .leaveSent })
        let exited = try #require(events.first { if case .exited = $0.event { true } else { false } })
        #expect(exited.t.seconds - leaveSent.t.seconds < 3, "left \(exited.t.seconds - leaveSent.t.seconds) s after")
    }

    static let leaveDuringAMigration = """
        \(head("leave-during-a-migration", seed: 4, peers: 3))
          - at: 1s
            deploy: {peer: peer-1, service: arena, kind: game}
          - at: 2s
            migrate: {service: arena, to: peer-2}
          - at: 2s
            leave: peer-1
          - at: 6s
            stop:
        """

    /// A leave that comes while a migration of the service is under way waits for it to end,
    /// and reports that it moved the service, rather than starting another.
    @Test func aLeaveDuringAMigrationLetsItFinish() async throws {
        let (report, events) = try await Self.run(Self.leaveDuringAMigration)
        #expect(report.peers.left == 1 && report.peers.killed == 0 && report.peers.failed == 0, "\(report.text())")
        #expect(report.handoffs.count == 1 && report.handoffs.first?.outcome == "release", "\(report.handoffs)")
        let migration = try #require(report.handoffs.first).migration
        let handovers = events.compactMap { if case .handover = $0.event { $0.event } else { nil } }
        #expect(
            handovers == [
                .handover(
                    service: "arena", migration: migration, to: "", outcome: "moved",
                    reason: "the migration under way moved it")
            ])
    }

    /// A service on peer-1 with clients on peer-3 (and peer-4), a fault armed at its host's
    /// commit, and the migration to peer-2 that reaches it.
    static func faultAtCommit(
        _ action: String, service: String, kind: String, clients: String, stopAt: Int
    ) -> String {
        """
        \(head("\(action)-at-commit", seed: 2, peers: 4))
          - at: 1s
            deploy: {peer: peer-1, service: \(service), kind: \(kind)}
          - at: 2s
            clients: {service: \(service), \(clients)}
          - at: 3s
            \(action): {host-of: \(service), at-phase: commit}
          - at: 4s
            migrate: {service: \(service), to: peer-2}
          - at: \(stopAt)s
            stop:
        """
    }

    @Test func aCrashArmedAtTheCommitFallsThereAndTheTargetFailsOver() async throws {
        let (report, events) = try await Self.run(
            Self.faultAtCommit("crash", service: "voice", kind: "voice-relay", clients: "peers: [peer-3]", stopAt: 19))
        #expect(report.peers.crashed == 1 && report.peers.failed == 0, "\(report.text())")
        #expect(
            events.contains {
                $0.peer == "peer-1" && $0.event == .faultArmed(service: "voice", phase: "commit", action: "crash")
            })
        func phases(of peer: String) -> [(t: Double, phase: String)] {
            events.compactMap { line in
                guard line.peer == peer, case .migrationPhase(_, _, _, _, let phase) = line.event else { return nil }
                return (line.t.seconds, phase)
            }
        }
        // The source got as far as the sync and died at the commit: nothing after it was said.
        #expect(phases(of: "peer-1").map(\.phase) == ["prepare", "replicate", "sync"])
        let exited = try #require(
            events.first { line in
                if case .exited = line.event { line.peer == "peer-1" } else { false }
            })
        guard case .exited(_, let signal, let cause, _, _, _) = exited.event else { return }
        #expect(signal == 9 && cause == "crashed")
        let prepared = try #require(phases(of: "peer-1").first).t
        #expect(exited.t.seconds - prepared < 1, "crashed \(exited.t.seconds - prepared) s after the prepare")
        // The target held the replica, heard nothing more, and took over once the source's
        // silence timeout and lease had passed.
        let failover = try #require(phases(of: "peer-2").first { $0.phase == "failover" }, "\(phases(of: "peer-2"))")
        #expect(failover.t - exited.t.seconds > 10, "failed over \(failover.t - exited.t.seconds) s after the crash")
    }

    /// The source hangs (SIGSTOP) at the commit: its control channels stay open and silent. The
    /// bots give them up after 1.5 s without a word, and find the world again through the
    /// registry once the target has failed over: every input is applied, exactly once.
    @Test func clientsOfAHostThatHangsFindTheServiceWhereItFailedOver() async throws {
        let (report, events) = try await Self.run(
            Self.faultAtCommit(
                "pause", service: "arena", kind: "game", clients: "peers: [peer-3, peer-4], inputs: 250, every: 100ms",
                stopAt: 30))
        #expect(report.peers.failed == 0 && report.peers.killed == 0, "\(report.text())")
        #expect(
            events.contains {
                $0.peer == "peer-1" && $0.event == .faultArmed(service: "arena", phase: "commit", action: "pause")
            })
        #expect(
            events.contains { line in
                if case .migrationPhase(_, "arena", "peer-1", "peer-2", "failover") = line.event {
                    line.peer == "peer-2"
                } else {
                    false
                }
            }, "no failover")
        // The report's failover: the source's last word (its commit) to the target's takeover,
        // and both bots' ticks again after it.
        let failover = try #require(report.failovers.first, "no failover in the report")
        #expect(report.failovers.count == 1 && failover.from == "peer-1" && failover.to == "peer-2")
        #expect(failover.silenceMs > 10_000, "\(failover)")
        if getuid() == 0 {
            let receivers = failover.receivers ?? []
            #expect(receivers.count == 2 && receivers.allSatisfy { $0.firstPacketAt != nil }, "\(receivers)")
            #expect((failover.maxGapMs ?? 0) >= failover.silenceMs - 100, "\(failover)")
        }
        let game = try #require(report.game, "no game section")
        #expect(game.clients.count == 2)
        for client in game.clients {
            #expect(client.inputsSent == 250 && client.inputsApplied == 250, "\(client)")
            #expect(
                client.inputsMissing == 0 && client.inputsAppliedTwice == 0 && client.inputsOutOfOrder == 0, "\(client)"
            )
        }
    }
}
