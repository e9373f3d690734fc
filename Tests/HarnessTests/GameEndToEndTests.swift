import Analysis
import Foundation
import Testing

@testable import Harness

/// The shipped `game-handoff.yaml` end to end: a game world, a service kind nothing like voice,
/// moves every 5 s across four hosts while eight real bot peers play it. Every migration must
/// finish, every input every bot sent must be applied exactly once and in order (by the worlds'
/// log and by the ticks in the capture), and the ticks must reach every bot with none lost or
/// duplicated. The timing goal (largest gap ≤ 1.5 ticks) is judged in the scenario's report
/// (release binaries), not here.
@Suite(.serialized, .timeLimit(.minutes(3))) struct GameEndToEndTests {
    @Test func theWorldMovesEveryFiveSecondsAndEveryInputIsAppliedOnce() async throws {
        let (result, _) = try await VoiceEndToEndTests.run(shipped: "game-handoff")
        let report = result.report
        #expect(report.peers.failed == 0, "\(report.text())")
        #expect(report.handoffs.count == 6)
        #expect(report.handoffs.allSatisfy { $0.outcome == "release" }, "\(report.handoffs.map(\.phases))")
        #expect(Set(report.handoffs.map(\.to)) == ["peer-1", "peer-10", "peer-11", "peer-12"])
        let game = try #require(report.game, "no game section")
        #expect(game.failures.isEmpty, "\(game.failures)")
        #expect(game.clients.count == 8)
        for client in game.clients {
            #expect(client.inputsSent == 260 && client.inputsApplied == 260, "\(client)")
            #expect(client.inputsMissing == 0 && client.inputsAppliedTwice == 0 && client.inputsOutOfOrder == 0)
            #expect(client.captureUnapplied == 0, "\(client)")
        }
        #expect(game.ticks.count == 8)
        for ticks in game.ticks {
            #expect(ticks.lost == 0 && ticks.duplicates == 0 && ticks.inputMismatches == 0, "\(ticks)")
            // The world's tick moved with it: every bot got ticks from several hosts in one run of numbers.
            #expect(ticks.senders.count >= 4, "\(ticks.senders)")
        }
    }
}
