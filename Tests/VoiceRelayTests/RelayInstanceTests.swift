import OverlayCore
import Testing

@testable import VoiceRelay

/// The relay's decisions without sockets: who is in, where each packet goes, what is refused.
struct RelayInstanceTests {
    static let relayData = "127.0.0.9:5000"

    /// A relay with participants joined on connections 1, 2, 3... receiving at 127.0.0.1:(6000 + n).
    static func relay(participants: Int) -> RelayInstance {
        var relay = RelayInstance(dataAddress: relayData, seed: 1)
        for index in 1...max(1, participants) where participants > 0 {
            _ = relay.handle(.message(from: index, .join(name: "peer-\(index)", dataAddress: "127.0.0.1:\(6000 + index)")))
        }
        return relay
    }

    @Test func aJoinIsWelcomedAndEveryoneHearsWhoIsHere() {
        var relay = Self.relay(participants: 1)
        let outputs = relay.handle(.message(from: 2, .join(name: "peer-2", dataAddress: "127.0.0.1:6002")))
        guard case .send(to: 2, .welcome(let id, let session, let token, let address))? = outputs.first else {
            Issue.record("no welcome first: \(outputs)")
            return
        }
        #expect(id == 2 && address == Self.relayData)
        #expect(session != 0 && token != 0 && session != token)
        let members = RelayMessage.participants([.init(id: 1, name: "peer-1"), .init(id: 2, name: "peer-2")])
        #expect(outputs.contains(.send(to: 1, members)) && outputs.contains(.send(to: 2, members)))
        #expect(outputs.contains { if case .emit(.joined(let p)) = $0 { p.id == 2 } else { false } })
        #expect(relay.state.participants.map(\.name) == ["peer-1", "peer-2"])
    }

    @Test func aPacketGoesToEveryOtherParticipantAndIsCounted() {
        var relay = Self.relay(participants: 3)
        let outputs = relay.handle(.datagram(from: "127.0.0.1:6002", bytes: 100, isRTP: true))
        #expect(outputs == [.forward(to: ["127.0.0.1:6001", "127.0.0.1:6003"])])
        #expect(relay.state.counters.received == 1)
        #expect(relay.state.counters.forwarded == 2)
        #expect(relay.state.counters.forwardedBytes == 200)
        #expect(relay.state.participant(2)?.packetsFrom == 1)
        #expect(relay.state.participant(2)?.bytesFrom == 100)
    }

    @Test func strangersAndNonRTPAreDroppedAndCounted() {
        var relay = Self.relay(participants: 2)
        #expect(relay.handle(.datagram(from: "127.0.0.1:7777", bytes: 60, isRTP: true)).isEmpty)
        #expect(relay.handle(.datagram(from: "127.0.0.1:6001", bytes: 5, isRTP: false)).isEmpty)
        #expect(relay.state.counters.droppedUnknownSender == 1)
        #expect(relay.state.counters.droppedMalformed == 1)
        #expect(relay.state.counters.forwarded == 0)
    }

    @Test func leavingOrClosingTheControlChannelEndsForwardingToThatParticipant() {
        var relay = Self.relay(participants: 3)
        let leave = relay.handle(.message(from: 3, .leave))
        #expect(leave.contains { if case .emit(.left(let p)) = $0 { p.id == 3 } else { false } })
        #expect(relay.handle(.datagram(from: "127.0.0.1:6001", bytes: 50, isRTP: true)) == [.forward(to: ["127.0.0.1:6002"])])
        _ = relay.handle(.disconnected(2))
        #expect(relay.handle(.datagram(from: "127.0.0.1:6001", bytes: 50, isRTP: true)).isEmpty)
        #expect(relay.handle(.datagram(from: "127.0.0.1:6002", bytes: 50, isRTP: true)).isEmpty)
        #expect(relay.state.participants.map(\.id) == [1])
    }

    @Test func requestsThatDoNotFitAreRefusedAndChangeNothing() {
        var relay = Self.relay(participants: 2)
        let before = relay.state
        for (connection, message) in [
            (1, RelayMessage.join(name: "again", dataAddress: "127.0.0.1:6100")),
            (9, .join(name: "thief", dataAddress: "127.0.0.1:6001")),
            (9, .leave),
            (1, .welcome(participant: 1, session: 1, resumeToken: 1, relayDataAddress: "x")),
        ] {
            let outputs = relay.handle(.message(from: connection, message))
            guard case .send(to: connection, .refused)? = outputs.first, outputs.count == 1 else {
                Issue.record("\(message) on \(connection) was not refused: \(outputs)")
                continue
            }
        }
        #expect(relay.state == before)
        #expect(relay.handle(.message(from: 1, .listParticipants)) == [
            .send(to: 1, .participants([.init(id: 1, name: "peer-1"), .init(id: 2, name: "peer-2")]))
        ])
    }

    @Test func theRelayFillsUpAndSaysSo() {
        var relay = Self.relay(participants: RelayInstance.maximumParticipants)
        let outputs = relay.handle(.message(from: 1000, .join(name: "late", dataAddress: "127.0.0.2:1")))
        #expect(outputs.count == 1)
        if case .send(to: 1000, .refused(let reason))? = outputs.first { #expect(reason.contains("full")) }
    }

    @Test func idsAreNeverReused() {
        var relay = Self.relay(participants: 2)
        _ = relay.handle(.message(from: 2, .leave))
        _ = relay.handle(.message(from: 5, .join(name: "peer-5", dataAddress: "127.0.0.1:6002")))
        #expect(relay.state.participants.map(\.id) == [1, 3])
    }
}
