import ControlProtocol
import GameWire
import SeamlessTestKit
import Testing

@testable import Analysis

/// The judge on a game's ticks: read from the capture alone, without the game's code.
@Suite struct GameAnalysisTests {
    static let t0 = CaptureAnalysisTests.t0

    static func tick(_ number: UInt32, lastInput: UInt32, applied: UInt32) -> [UInt8] {
        GameTick(
            tick: number,
            players: [
                GameTick.Player(id: 1, x: 0, y: 0, score: 0, lastInput: lastInput, inputsApplied: applied),
                GameTick.Player(id: 2, x: 5, y: -5, score: 1, lastInput: 0, inputsApplied: 0),
            ]
        ).bytes
    }

    /// Ticks 1...100 reach 127.100.0.3:4000 every 50 ms, from peer-1 up to 50 and from peer-2
    /// 25 ms later after it; 30 is lost, 60 arrives twice, 70 and 71 swap. Tick 80 shows an input
    /// applied twice, tick 90 an input undone; one datagram starts like a tick and is cut short.
    static func capture() -> PcapBuilder {
        var builder = PcapBuilder(link: .ethernet)
        var arrivals: [(Int64, UInt32)] = []
        for number: UInt32 in 1...100 where number != 30 {
            var slot = Int64(number)
            if number == 70 { slot = 71 } else if number == 71 { slot = 70 }
            let time = slot * 50_000 + (number > 50 ? 25_000 : 0)
            arrivals.append((time, number))
            if number == 60 { arrivals.append((time + 1_000, number)) }
        }
        for (time, number) in arrivals.sorted(by: { $0.0 < $1.0 }) {
            let lastInput: UInt32 = number == 90 ? 2 : min(9, number / 10)
            let applied = number == 80 ? lastInput + 1 : lastInput
            builder.udp(
                at: t0 + time, from: (number > 50 ? "127.100.0.2" : "127.100.0.1", 9000), to: ("127.100.0.3", 4000),
                payload: tick(number, lastInput: lastInput, applied: applied))
        }
        builder.udp(
            at: t0 + 6_000_000, from: ("127.100.0.2", 9000), to: ("127.100.0.3", 4000),
            payload: Array(tick(101, lastInput: 9, applied: 9).prefix(20)))
        return builder
    }

    @Test func ticksAreJudgedPerReceiverFromTheCaptureAlone() throws {
        let report = try Self.capture().bytes.withUnsafeBytes { try CaptureAnalysis.analyse($0) }
        #expect(report.capture.gamePackets == 100)
        #expect(report.capture.malformedGamePackets == 1)
        #expect(report.capture.rtpPackets == 0)
        let ticks = try #require(report.games.first)
        #expect(report.games.count == 1)
        #expect(ticks.receiver == "127.100.0.3:4000")
        #expect(ticks.senders == ["127.100.0.1:9000", "127.100.0.2:9000"])
        #expect(ticks.ticks == 99 && ticks.firstTick == 1 && ticks.lastTick == 100)
        #expect(ticks.lost == 1 && ticks.duplicates == 1 && ticks.reordered == 1)
        // The hole at 30: 100 ms from 29 to 31, about two ticks of 50.25 ms.
        #expect(ticks.maxGapMs == 100)
        #expect(abs(ticks.tickMs - 50.253) < 0.001)
        #expect(ticks.maxGapTicks == 1.99)
        #expect(ticks.inputMismatches == 1 && ticks.inputRegressions == 1)
        #expect(ticks.players.map(\.lastInput) == [9, 0])
        // The same arrivals feed the handoff windows.
        #expect(report.gameDetails.first?.arrivals.count == 100)
    }

    static func event(_ seconds: Double, _ peer: String, _ event: GameEvent) -> EventLine {
        EventLine(t: Timestamp(microseconds: t0 + Int64(seconds * 1e6)), peer: peer, event: event.event)
    }

    @Test func theWorldsLogSaysWhetherEveryInputWasAppliedOnceAndInOrder() throws {
        let applied = [1, 2, 2, 4, 3].enumerated().map { index, input in
            Self.event(
                Double(index), index < 3 ? "peer-1" : "peer-2",
                .inputApplied(service: "arena", player: 1, input: input, tick: 9))
        }
        let bot = Self.event(
            9, "peer-3",
            .bot(
                service: "arena", local: "127.100.0.3:4000",
                tally: GameBotTally(player: 1, inputsSent: 5, ticks: 99, lastTick: 99, lastInputSeen: 5)))
        var game = try #require(GameFigures(events: applied + [bot]))
        let client = try #require(game.clients.first)
        #expect(client.inputsSent == 5 && client.inputsApplied == 5)
        #expect(client.inputsAppliedTwice == 1 && client.inputsMissing == 1 && client.inputsOutOfOrder == 2)
        #expect(client.captureUnapplied == nil)
        let report = try Self.capture().bytes.withUnsafeBytes { try CaptureAnalysis.analyse($0) }
        game.attach(report.games, peerByAddress: ["127.100.0.3": "peer-3"])
        #expect(game.ticks.first?.receiverName == "peer-3")
        #expect(game.clients.first?.captureLastInput == 9)
        #expect(game.clients.first?.captureUnapplied == 0)
        #expect(GameFigures(events: []) == nil)
    }

    /// peer-1 applies inputs 1-4; its standby, peer-2, last heard it at 2.5 s and takes the world
    /// over at 2.7 s: input 3 (logged at 2.6 s, never streamed) dies with peer-1's state and is
    /// applied again at peer-2; input 4 (2.65 s) reached peer-2 in the stream and counts. Input 2,
    /// logged before the standby last heard peer-1 and applied again too, is applied twice.
    @Test func entriesOfAHostAStandbyReplacedAfterItLastHeardItAreDiscarded() throws {
        let log: [(Double, String, Int)] = [
            (1, "peer-1", 1), (2, "peer-1", 2), (2.6, "peer-1", 3), (2.65, "peer-1", 4), (2.8, "peer-2", 2),
            (2.9, "peer-2", 3),
        ]
        let events =
            log.map { Self.event($0.0, $0.1, .inputApplied(service: "arena", player: 1, input: $0.2, tick: 1)) }
            + [
                EventLine(
                    t: Timestamp(microseconds: Self.t0 + 2_700_000), peer: "peer-2",
                    event: .failover(
                        service: "arena", from: "peer-1", to: "peer-2", epoch: 2, silenceMs: 200, claimMs: 5)),
                Self.event(
                    9, "peer-3",
                    .bot(
                        service: "arena", local: "127.100.0.3:4000",
                        tally: GameBotTally(player: 1, inputsSent: 4, ticks: 9, lastTick: 9, lastInputSeen: 4))),
            ]
        let client = try #require(GameFigures(events: events)?.clients.first)
        #expect(client.inputsDiscarded == 1 && client.inputsApplied == 5, "\(client)")
        // Applied twice: 2; out of order: peer-2's 2 after peer-1's 4.
        #expect(
            client.inputsAppliedTwice == 1 && client.inputsMissing == 0 && client.inputsOutOfOrder == 1, "\(client)")
    }
}
