import Analysis
import ControlProtocol
import Foundation
import Scenario
import SeamlessTestKit
import Testing

@testable import Harness

/// A leaving host hands its services over first, with real peers: the shipped
/// `voice-host-leaves.yaml` (the relay's host leaves in the middle of a turn), and a lone host
/// that has nobody to hand its service to and still leaves in time, saying so.
@Suite(.serialized, .timeLimit(.minutes(2))) struct LeaveHandoverEndToEndTests {
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

    static let alone = """
        name: alone
        seed: 3
        peers: 1
        timeline:
          - at: 0s
            spawn: all
          - at: 0s
            wait: {until: ready, timeout: 20s}
          - at: 0s
            join: {peers: all}
          - at: 1s
            deploy: {peer: peer-1, service: arena, kind: game}
          - at: 2s
            leave: peer-1
          - at: 5s
            stop:
        """

    @Test func aHostWithNobodyToTakeItsServiceSaysSoAndLeavesInTime() async throws {
        let folder = temporaryDirectory("e2e-alone")
        let result = try await TestbedRun.execute(
            try Scenario.parse(Self.alone, file: "alone.yaml"), source: Self.alone,
            options: TestbedRunEndToEndTests.options(folder))
        #expect(result.report.peers.left == 1 && result.report.peers.killed == 0, "\(result.report.text())")
        let (events, _) = try ReportFiles.readEvents(at: result.folder.events)
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
}
