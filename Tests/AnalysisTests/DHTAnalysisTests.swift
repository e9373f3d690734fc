import ControlProtocol
import Testing

@testable import Analysis

/// The dht section from crafted events with known answers: each lookup is judged against the
/// members of the ring at the instant it was issued or returned.
struct DHTAnalysisTests {
    static let t0: Int64 = 1_700_000_000_000_000

    static func at(_ milliseconds: Int64, _ peer: String, _ event: Event) -> EventLine {
        EventLine(t: Timestamp(microseconds: t0 + milliseconds * 1000), peer: peer, event: event)
    }

    /// An identifier whose first byte is `first` and the rest zero.
    static func id(_ first: String) -> String { first + String(repeating: "0", count: 38) }

    static let events: [EventLine] = [
        at(0, "peer-1", .ready(pid: 1, address: "127.100.0.1", tcpPort: 7000, udpPort: 7000)),
        at(0, "peer-2", .ready(pid: 2, address: "127.100.0.2", tcpPort: 7000, udpPort: 7000)),
        at(0, "peer-3", .ready(pid: 3, address: "127.100.0.3", tcpPort: 7000, udpPort: 7000)),
        // Ring: peer-1 at 0x20.., peer-2 at 0x80.., peer-3 at 0xc0.. (peer-3 from 100 ms on).
        at(10, "peer-1", .dhtJoined(id: id("20"), successor: "127.100.0.1:7000")),
        at(20, "peer-2", .dhtJoined(id: id("80"), successor: "127.100.0.1:7000")),
        at(100, "peer-3", .dhtJoined(id: id("c0"), successor: "127.100.0.1:7000")),
        // Before peer-3: key 0x90.. belongs to peer-1 (wrapping around).
        at(50, "peer-2", .lookup(key: id("90"), result: "127.100.0.1:7000", hops: 1, latencyMs: 2)),
        // After peer-3 joined: the same key is peer-3's; peer-1 is now wrong.
        at(200, "peer-2", .lookup(key: id("90"), result: "127.100.0.1:7000", hops: 2, latencyMs: 4)),
        at(210, "peer-2", .lookup(key: id("90"), result: "127.100.0.3:7000", hops: 3, latencyMs: 6)),
        // Issued while peer-3 was still in, returned after its crash: right either way.
        at(300, "testbed", .crashSent),
        at(300, "peer-3", .crashSent),
        at(305, "peer-1", .lookup(key: id("c0"), result: "127.100.0.3:7000", hops: 1, latencyMs: 10)),
        at(400, "peer-1", .lookup(key: id("c0"), result: "127.100.0.3:7000", hops: 1, latencyMs: 10)),
        at(410, "peer-1", .lookup(key: id("c0"), result: nil, hops: 5, latencyMs: 1500)),
        at(420, "peer-1", .dhtTraffic(sentBytes: 5000, maintenanceBytes: 3000, receivedBytes: 4000, malformed: 2)),
    ]

    @Test func everyLookupIsJudgedAgainstTheMembershipOfItsInstant() throws {
        let dht = try #require(DHTFigures(events: Self.events))
        #expect(dht.joined == 3)
        #expect(dht.lookups == 6)
        #expect(dht.succeeded == 5)
        // Right: the first (peer-1 before peer-3 joined), the third, the fourth (peer-3 still in
        // when it was issued). Wrong: the second (peer-3 had joined), the fifth (peer-3 dead).
        #expect(dht.correct == 3)
        #expect(dht.meanHops == Double(1 + 2 + 3 + 1 + 1) / 5)
        #expect(dht.p99LatencyMs == 10)
        #expect(dht.malformedFrames == 2)
        #expect(DHTFigures(events: Array(Self.events.prefix(3))) == nil)
    }

    @Test func theReportCarriesTheSection() throws {
        let report = RunReport(events: Self.events)
        #expect(report.dht?.correct == 3)
        let json = try ReportFiles.jsonValue(report)
        #expect(json["dht"]?["lookups"]?.double == 6)
        #expect(report.text().contains("dht       3 joined · 6 lookups, 5 answered, 3 correct"))
    }
}
