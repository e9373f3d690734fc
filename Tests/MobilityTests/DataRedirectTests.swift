import OverlayCore
import Testing

@testable import Mobility

/// A client whose redirect is held up (a lost TCP segment) still sends data to the old host;
/// the old host tells it over UDP where data goes now, and the client moves its data only when
/// the host it sends to says so.
@Suite struct DataRedirectTests {
    @Test func aDataRedirectReadsBackAndBadOnesAreRefusedWithTheirOffset() throws {
        let redirect = DataRedirect(data: "10.0.0.2:5001")
        #expect(Array(redirect.bytes.prefix(3)) == [0x4D, 0x44, 1])
        #expect(try DataRedirect(bytes: redirect.bytes) == redirect)
        #expect(redirect.bytes.withUnsafeBytes(DataRedirect.looksLike))
        #expect(!LateDatagram(migration: 1, traffic: []).bytes.withUnsafeBytes(DataRedirect.looksLike))

        #expect(throws: WireError.unsupportedVersion(2)) { try DataRedirect(bytes: [0x4D, 0x44, 2, 0, 0]) }
        #expect(throws: WireError.invalid("not a data redirect", offset: 0)) {
            try DataRedirect(bytes: [0x4D, 0x4C, 1, 0, 0])
        }
        #expect(throws: WireError.invalid("data redirect without an address", offset: 3)) {
            try DataRedirect(bytes: [0x4D, 0x44, 1, 0, 0])
        }
        #expect(throws: WireError.truncated(offset: 6)) { try DataRedirect(bytes: [0x4D, 0x44, 1, 0, 9, 0x31]) }
        #expect(throws: WireError.trailingBytes(offset: 6)) { try DataRedirect(bytes: [0x4D, 0x44, 1, 0, 1, 0x31, 0]) }
    }

    @Test func onlyTheHostDataGoesToCanSendItElsewhere() {
        var client = SessionSimulationTests.readyClient(
            "c", session: SessionID(high: 0, low: 5), token: SessionToken(high: 0, low: 9))
        #expect(client.data == "old:2")
        // Someone the client does not send to: ignored.
        #expect(client.handle(.dataMoved(from: "elsewhere:2", to: "thief:2")).isEmpty)
        #expect(client.data == "old:2")
        // The old host: data goes to the new one at once, before any control channel moved.
        #expect(client.handle(.dataMoved(from: "old:2", to: "new:2")) == [.useData("new:2")])
        #expect(client.data == "new:2" && client.current?.control == "old:1")
        // Its next ones, and the old host once the client moved on: nothing more.
        #expect(client.handle(.dataMoved(from: "old:2", to: "new:2")).isEmpty)
        #expect(client.handle(.dataMoved(from: "new:2", to: "new:2")).isEmpty)
        #expect(client.handle(.dataMoved(from: "new:2", to: "")).isEmpty)
        // The redirect that was held up then names the same address: the control channel moves,
        // the data does not move twice.
        #expect(
            client.handle(.message(1, .redirect(control: "new:1", data: "new:2"))) == [.connect(2, to: "new:1")])
        _ = client.handle(.connected(2))
        let moved = client.handle(
            .message(
                2,
                .ready(
                    session: SessionID(high: 0, low: 5), token: SessionToken(high: 0, low: 9), appliedThrough: 0,
                    data: "new:2")))
        #expect(moved.prefix(2) == [.close(1), .moved(control: "new:1")])
        #expect(!moved.contains(.useData("new:2")))
    }
}
