import Mobility
import OverlayCore
import Testing

@testable import VoiceRelay

/// The relay's decisions without sockets: who is in, where each packet goes, what is refused,
/// and how sessions carry requests exactly once.
struct RelayInstanceTests {
    static let relayData = "127.0.0.9:5000"

    /// Opens a session on `connection` and asks to join over it (request 1).
    @discardableResult
    static func join(
        _ relay: inout RelayInstance, on connection: Int, name: String, address: String
    ) -> [RelayInstance.Output] {
        relay.handle(.message(from: connection, .open(client: name)))
            + relay.handle(
                .message(
                    from: connection,
                    .request(sequence: 1, body: RelayMessage.join(name: name, dataAddress: address).frame)))
    }

    /// A relay with participants joined on connections 1, 2, 3... receiving at 127.0.0.1:(6000 + n).
    static func relay(participants: Int) -> RelayInstance {
        var relay = RelayInstance(dataAddress: relayData, secrets: .seeded(SeededGenerator(seed: 1)))
        for index in 1...max(1, participants) where participants > 0 {
            join(&relay, on: index, name: "peer-\(index)", address: "127.0.0.1:\(6000 + index)")
        }
        return relay
    }

    /// The relay's own messages pushed to `connection`, in order.
    static func pushes(_ outputs: [RelayInstance.Output], to connection: Int) -> [RelayMessage] {
        outputs.compactMap {
            guard case .send(connection, .push(let body)) = $0 else { return nil }
            return try? RelayMessage(frame: body)
        }
    }

    static func request(_ message: RelayMessage, _ sequence: UInt64) -> SessionMessage {
        .request(sequence: sequence, body: message.frame)
    }

    @Test func aJoinIsWelcomedAndEveryoneHearsWhoIsHere() {
        var relay = Self.relay(participants: 1)
        let outputs = Self.join(&relay, on: 2, name: "peer-2", address: "127.0.0.1:6002")
        guard case .send(to: 2, .ready(let session, let token, 0, Self.relayData))? = outputs.first else {
            Issue.record("no session first: \(outputs)")
            return
        }
        guard case .welcome(let id, Self.relayData)? = Self.pushes(outputs, to: 2).first else {
            Issue.record("no welcome for the session: \(outputs)")
            return
        }
        #expect(id == 2 && (session.high, session.low) != (token.high, token.low))
        #expect(relay.state.participant(2)?.session == session)
        #expect(outputs.contains(.send(to: 2, .applied(sequence: 1))))
        let members = RelayMessage.participants([.init(id: 1, name: "peer-1"), .init(id: 2, name: "peer-2")])
        #expect(Self.pushes(outputs, to: 1) == [members])
        #expect(Self.pushes(outputs, to: 2).last == members)
        #expect(outputs.contains { if case .emit(.joined(let p)) = $0 { p.id == 2 } else { false } })
        #expect(relay.state.participants.map(\.name) == ["peer-1", "peer-2"])
        #expect(
            relay.state.sessions.sessions[session]
                == SessionTable.Session(client: "peer-2", token: token, appliedThrough: 1, lastActive: 4))
    }

    @Test func aPacketGoesToEveryOtherParticipantAndIsCounted() {
        var relay = Self.relay(participants: 3)
        let outputs = relay.datagram(from: "127.0.0.1:6002", bytes: 100, isRTP: true)
        #expect(outputs == [.forward(to: ["127.0.0.1:6001", "127.0.0.1:6003"])])
        #expect(relay.state.counters.received == 1)
        #expect(relay.state.counters.forwarded == 2)
        #expect(relay.state.counters.forwardedBytes == 200)
        #expect(relay.state.participant(2)?.packetsFrom == 1)
        #expect(relay.state.participant(2)?.bytesFrom == 100)
    }

    @Test func strangersAndNonRTPAreDroppedAndCounted() {
        var relay = Self.relay(participants: 2)
        #expect(relay.datagram(from: "127.0.0.1:7777", bytes: 60, isRTP: true).isEmpty)
        #expect(relay.datagram(from: "127.0.0.1:6001", bytes: 5, isRTP: false).isEmpty)
        #expect(relay.state.counters.droppedUnknownSender == 1)
        #expect(relay.state.counters.droppedMalformed == 1)
        #expect(relay.state.counters.forwarded == 0)
    }

    @Test func leavingEndsForwardingButALostChannelDoesNot() {
        var relay = Self.relay(participants: 3)
        let leave = relay.handle(.message(from: 3, Self.request(.leave, 2)))
        #expect(leave.contains { if case .emit(.left(let p)) = $0 { p.id == 3 } else { false } })
        #expect(
            relay.datagram(from: "127.0.0.1:6001", bytes: 50, isRTP: true) == [
                .forward(to: ["127.0.0.1:6002"])
            ])
        // The session outlives its channel: the client will resume it.
        _ = relay.handle(.disconnected(2))
        #expect(
            relay.datagram(from: "127.0.0.1:6001", bytes: 50, isRTP: true) == [
                .forward(to: ["127.0.0.1:6002"])
            ])
        #expect(relay.state.participants.map(\.id) == [1, 2])
    }

    @Test func aResumedSessionIsWelcomedAgainAndARepeatedRequestAppliesOnce() throws {
        var relay = Self.relay(participants: 2)
        let participant = try #require(relay.state.participant(2))
        let token = try #require(relay.state.sessions.sessions[participant.session]?.token)
        _ = relay.handle(.disconnected(2))
        let resumed = relay.handle(.message(from: 7, .resume(session: participant.session, token: token)))
        #expect(
            resumed.first
                == .send(
                    to: 7, .ready(session: participant.session, token: token, appliedThrough: 1, data: Self.relayData)))
        #expect(Self.pushes(resumed, to: 7).first == .welcome(participant: 2, relayDataAddress: Self.relayData))
        // The join sent again after the move is answered, not applied twice.
        let before = relay.state
        let again = relay.handle(
            .message(from: 7, Self.request(.join(name: "peer-2", dataAddress: "127.0.0.1:6002"), 1)))
        #expect(again == [.send(to: 7, .applied(sequence: 1))])
        #expect(relay.state == before)
        // A wrong token resumes nothing.
        #expect(
            relay.handle(
                .message(
                    from: 8,
                    .resume(session: participant.session, token: SessionToken(high: token.high, low: ~token.low)))
            ) == [
                .send(to: 8, .unknownSession)
            ])
    }

    @Test func aLateRequestAppliesOnceAndIsAnsweredOnTheSessionsChannel() throws {
        var relay = Self.relay(participants: 2)
        let session = try #require(relay.state.participant(1)?.session)
        let late = relay.handle(.late(session: session, Self.request(.leave, 2)))
        #expect(late.contains(.send(to: 1, .applied(sequence: 2))))
        #expect(relay.state.participants.map(\.id) == [2])
        #expect(relay.handle(.late(session: session, Self.request(.leave, 2))) == [.send(to: 1, .applied(sequence: 2))])
    }

    @Test func requestsThatDoNotFitAreRefusedAndChangeNothingButTheirSessions() {
        var relay = Self.relay(participants: 2)
        _ = relay.handle(.message(from: 9, .open(client: "thief")))
        let participants = relay.state.participants
        for (connection, message, sequence) in [
            (1, RelayMessage.join(name: "again", dataAddress: "127.0.0.1:6100"), UInt64(2)),
            (9, .join(name: "thief", dataAddress: "127.0.0.1:6001"), 1),
            (9, .leave, 2),
            (1, .welcome(participant: 1, relayDataAddress: "x"), 3),
        ] {
            let outputs = relay.handle(.message(from: connection, Self.request(message, sequence)))
            guard case .refused? = Self.pushes(outputs, to: connection).first else {
                Issue.record("\(message) on \(connection) was not refused: \(outputs)")
                continue
            }
        }
        #expect(relay.state.participants == participants)
        #expect(
            Self.pushes(relay.handle(.message(from: 1, Self.request(.listParticipants, 4))), to: 1) == [
                .participants([.init(id: 1, name: "peer-1"), .init(id: 2, name: "peer-2")])
            ])
        // A request before any session is refused by the session layer.
        #expect(
            relay.handle(.message(from: 10, Self.request(.listParticipants, 1))) == [.send(to: 10, .unknownSession)])
    }

    @Test func theRelayFillsUpAndSaysSo() {
        var relay = Self.relay(participants: RelayInstance.maximumParticipants)
        let outputs = Self.join(&relay, on: 1000, name: "late", address: "127.0.0.2:1")
        guard case .refused(let reason)? = Self.pushes(outputs, to: 1000).first else {
            Issue.record("not refused: \(outputs)")
            return
        }
        #expect(reason.contains("full"))
    }

    @Test func idsAreNeverReused() {
        var relay = Self.relay(participants: 2)
        _ = relay.handle(.message(from: 2, Self.request(.leave, 2)))
        Self.join(&relay, on: 5, name: "peer-5", address: "127.0.0.1:6002")
        #expect(relay.state.participants.map(\.id) == [1, 3])
    }

    @Test func whileJournalingEveryOperationComesOutInOrderAndReplaysTheStateButNotItsCounters() throws {
        var relay = Self.relay(participants: 1)
        var replica = relay.state
        relay.journaling = true
        var outputs = Self.join(&relay, on: 2, name: "peer-2", address: "127.0.0.1:6002")
        outputs += relay.datagram(from: "127.0.0.1:6002", bytes: 80, isRTP: true)
        outputs += relay.datagram(from: "127.0.0.1:9999", bytes: 80, isRTP: true)
        var expected = replica.sequence + 1
        for case .changed(let sequence, let operation) in outputs {
            #expect(sequence == expected)
            expected += 1
            try replica.apply(try RelayOperation(bytes: operation))
        }
        #expect(replica == relay.state.withoutTraffic)
        #expect(relay.state.counters.received == 2 && replica.counters.received == 0)
        #expect(expected > 4)
    }
}

extension RelayInstance {
    /// A datagram of `bytes` bytes from `sender`: an RTP version 2 packet, or not.
    mutating func datagram(from sender: String, bytes: Int, isRTP: Bool) -> [Output] {
        var packet = [UInt8](repeating: 0, count: bytes)
        if isRTP { packet[0] = 0x80 }
        return packet.withUnsafeBytes { receive(datagram: $0, from: sender) }
    }
}

/// What a full session table does to the relay: a forgotten session takes its participant along,
/// so its client can join again, and the largest state the limits allow fits a migration frame.
struct RelayQuotaTests {
    @Test func aForgottenSessionTakesItsParticipantAlongAndItsClientRejoins() throws {
        var relay = RelayInstanceTests.relay(participants: 1)
        _ = relay.handle(.disconnected(1))
        // Strangers open sessions until the participant's, the least recently active, goes.
        var left = false
        for connection in 100..<(100 + SessionTable.maximumSessions) {
            let outputs = relay.handle(.message(from: connection, .open(client: "x")))
            _ = relay.handle(.disconnected(connection))
            left = left || outputs.contains { if case .emit(.left(let p)) = $0 { p.id == 1 } else { false } }
        }
        #expect(left && relay.state.participants.isEmpty)
        #expect(relay.state.sessions.sessions.count == SessionTable.maximumSessions)
        // Its client's resume is refused; it opens a new session and joins from the same address.
        let joined = RelayInstanceTests.join(&relay, on: 2, name: "peer-1", address: "127.0.0.1:6001")
        #expect(joined.contains { if case .emit(.joined) = $0 { true } else { false } }, "\(joined)")
    }

    @Test func theLargestStateTheLimitsAllowFitsAMigrationFrame() throws {
        var state = RelayState()
        let long = String(repeating: "n", count: SessionMessage.maximumClientBytes)
        let address = String(repeating: "a", count: SessionMessage.maximumAddressBytes)
        var generator = SeededGenerator(seed: 3)
        for id in 1...UInt32(RelayInstance.maximumParticipants) {
            let session = SessionID(high: generator.next(), low: generator.next())
            try state.apply(
                .join(Participant(id: id, name: long, dataAddress: address.dropLast(2) + "\(id)", session: session)))
        }
        for _ in 0..<SessionTable.maximumSessions {
            try state.apply(
                .session(
                    id: SessionID(high: generator.next(), low: generator.next()),
                    SessionTable.Session(
                        client: long, token: SessionToken(high: generator.next(), low: generator.next()),
                        appliedThrough: .max >> 2, lastActive: .max >> 2)))
        }
        // Uncompressed, so it fits whatever the names are.
        #expect(state.snapshot.count <= 65_000, "\(state.snapshot.count) bytes")
        #expect(try RelayState(snapshot: state.snapshot) == state)
    }
}
