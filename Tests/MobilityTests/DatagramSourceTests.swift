import Testing

@testable import Mobility

/// A client plays only what its service sends: from where data goes now, from the host before
/// the last move, or from a named standby; a new host's packets that beat the redirect naming
/// it wait a moment, a stranger's are dropped and counted.
@Suite struct DatagramSourceTests {
    static func client() -> ServiceConnectionStateMachine {
        SessionSimulationTests.readyClient(
            "c", session: SessionID(high: 1, low: 2), token: SessionToken(high: 3, low: 4))
    }

    @Test func theServiceItsLastHostAndItsStandbysAreExpectedNobodyElse() {
        var client = Self.client()
        #expect(client.expects(dataFrom: "old:2"))
        #expect(!client.expects(dataFrom: "thief:2") && !client.expects(dataFrom: "new:2"))
        _ = client.handle(.message(1, .standbys([StandbyAddress(control: "standby:1", data: "standby:2")])))
        #expect(client.expects(dataFrom: "standby:2"))
        _ = client.handle(.message(1, .redirect(control: "new:1", data: "new:2")))
        #expect(client.expects(dataFrom: "new:2") && client.expects(dataFrom: "old:2"))
        // One more move: the host two moves back is a stranger now.
        _ = client.handle(.dataMoved(from: "new:2", to: "third:2"))
        #expect(client.expects(dataFrom: "third:2") && client.expects(dataFrom: "new:2"))
        #expect(!client.expects(dataFrom: "old:2"))
    }

    @Test func heldDatagramsGoOnInOrderOnceTheirSenderIsTheServicesAndExpireOtherwise() {
        var held = DatagramQuarantine<Int>(limit: .milliseconds(500))
        held.hold(1, from: "new:2", at: .milliseconds(0))
        held.hold(2, from: "thief:2", at: .milliseconds(1))
        held.hold(3, from: "new:2", at: .milliseconds(2))
        #expect(held.release(from: "new:2", at: .milliseconds(3)) == [1, 3])
        #expect(held.release(from: "new:2", at: .milliseconds(4)).isEmpty)
        #expect(held.dropped == 0)
        // The stranger's is dropped once it is older than the limit.
        #expect(held.release(from: "thief:2", at: .milliseconds(502)).isEmpty)
        #expect(held.dropped == 1)
        // A flood keeps the newest 64.
        for index in 0..<100 { held.hold(index, from: "thief:2", at: .milliseconds(600)) }
        #expect(held.dropped == 1 + 36)
        #expect(held.release(from: "thief:2", at: .milliseconds(601)) == Array(36..<100))
    }
}
