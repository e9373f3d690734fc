import Analysis
import ControlProtocol
import DHT
import Foundation
import Scenario
import SeamlessTestKit
import Testing

@testable import Harness

/// Sixteen real peers form a Chord ring on loopback; the peer holding a registered record (its
/// key's primary) is killed; lookups stay correct and the record is still found.
@Suite(.timeLimit(.minutes(2))) struct DHTEndToEndTests {
    static let scenario = """
        name: e2e-dht
        peers: 16
        timeline:
          - at: 0s
            spawn: all
          - at: 0s
            wait: ready
          - at: 0s
            join: {peers: all, via: peer-1}
          - at: 2s
            register: {peer: peer-3, service: voice, lease: 60s}
          - at: 2500ms
            lookups: {count: 50, rate: 50}
          - at: 9s
            lookups: {count: 50, rate: 50}
          - at: 11s
            resolve: {peer: peer-2, service: voice}
          - at: 11s
            resolve: {peer: peer-4, service: voice}
          - at: 12s
            stop:
        """

    @Test func lookupsStayCorrectAndTheRecordSurvivesWhenItsPrimaryCrashes() async throws {
        let folder = temporaryDirectory("e2e-dht")
        let options = TestbedRunEndToEndTests.options(folder)
        async let run = TestbedRun.execute(
            try Scenario.parse(Self.scenario, file: "d.yaml"), source: Self.scenario, options: options)
        let events = RunEvents(out: folder + "/Captures")
        #expect(
            await events.waitFor(within: .seconds(20)) {
                if case .registered(_, _, true) = $0.event { true } else { false }
            })
        #expect(
            await events.waitFor(within: .seconds(20)) { _ in
                events.lines.filter { if case .lookup = $0.event { true } else { false } }.count >= 50
            })

        // The record's primary: the first ring member at or after its key.
        var ids: [String: ChordID] = [:]
        var pids: [String: Int32] = [:]
        for line in events.lines {
            if case .dhtJoined(let hex, _) = line.event { ids[line.peer] = ChordID(hex: hex) }
            if case .spawned(let pid, _) = line.event { pids[line.peer] = Int32(pid) }
        }
        #expect(ids.count == 16)
        let key = ChordID.hashing("service:voice")
        let ring = ids.sorted { $0.value < $1.value }
        let primary = try #require((ring.first { key <= $0.value } ?? ring.first)?.key)
        kill(try #require(pids[primary]), SIGKILL)

        let result = try await run
        let dht = try #require(result.report.dht)
        #expect(dht.joined == 16)
        #expect(dht.lookups == 100)
        #expect(dht.succeeded == 100)
        #expect(dht.correct == 100, "\(result.report.text())")
        #expect((dht.meanHops ?? 99) <= 0.5 * log2(16.0) + 1)
        #expect(dht.registered == 1)
        #expect(dht.resolved >= 1)
        #expect(dht.resolvedFound == dht.resolved, "the record was lost with its primary \(primary)")
        let hosts = result.report.peers.list.first { $0.name == "peer-3" }?.address
        let resolvedHosts = try ReportFiles.readEvents(at: result.folder.events).events.compactMap { line -> String? in
            if case .resolved(_, let host, _, _, _) = line.event { host } else { nil }
        }
        #expect(resolvedHosts.allSatisfy { $0.hasPrefix((hosts ?? "?") + ":") })
        #expect(dht.malformedFrames == 0)
    }
}
