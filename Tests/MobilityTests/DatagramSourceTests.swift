import OverlayCore
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
        // At the client's end, whatever is still held counts as dropped.
        held.hold(100, from: "thief:2", at: .milliseconds(602))
        held.dropAll()
        #expect(held.dropped == 1 + 36 + 1)
        #expect(held.release(from: "thief:2", at: .milliseconds(603)).isEmpty)
    }
}

/// A service's sessions are bounded: a full table forgets the stalest session no channel
/// carries to make room, and a channel that guesses wrong resumes three times is not answered
/// again.
@Suite struct SessionQuotaTests {
    @Test func aFullTableForgetsTheStalestUncarriedSession() {
        var table = SessionTable()
        var secrets = SessionSecrets.seeded(SeededGenerator(seed: 7))
        var opened: [SessionID] = []
        for index in 0..<SessionTable.maximumSessions {
            let (_, id) = table.handle(.open(client: "c\(index)"), on: nil, dataAddress: "d", secrets: &secrets)
            opened.append(id!)
        }
        // Every session but the first two applied a request since (the first two are the least
        // recently active); the first is carried by a channel.
        for id in opened.dropFirst(2) {
            _ = table.handle(.request(sequence: 1, body: []), on: id, dataAddress: "d", secrets: &secrets)
        }
        let (_, newcomer) = table.handle(
            .open(client: "new"), on: nil, dataAddress: "d", secrets: &secrets, carried: [opened[0]])
        #expect(table.sessions.count == SessionTable.maximumSessions)
        #expect(table.sessions[opened[1]] == nil)
        #expect(table.sessions[opened[0]] != nil && table.sessions[newcomer!] != nil)
        // With every session carried, one goes all the same: the table never grows past its bound.
        _ = table.handle(
            .open(client: "newer"), on: nil, dataAddress: "d", secrets: &secrets, carried: Set(table.sessions.keys))
        #expect(table.sessions.count == SessionTable.maximumSessions)
        // The least recently active of all went: the first, opened before any other.
        #expect(table.sessions[opened[0]] == nil && table.sessions[newcomer!] != nil)
    }

    /// Found by fuzz-game: a snapshot naming one session twice read as a table that wrote back
    /// differently. It is malformed.
    @Test func aTableThatNamesASessionTwiceIsMalformed() {
        var writer = WireWriter()
        writer.integer(UInt16(2))
        for _ in 0..<2 {
            writer.session(SessionID(high: 1, low: 2))
            SessionTable.Session(client: "c", token: SessionToken(high: 3, low: 4), appliedThrough: 0).write(
                to: &writer)
        }
        var reader = WireReader(writer.bytes)
        #expect(throws: WireError.invalid("session 00000000000000010000000000000002 twice", offset: 2 + 16 + 35)) {
            try SessionTable(from: &reader, limit: SessionTable.maximumSessions)
        }
    }

    @Test func aChannelThatGuessesWrongThreeTimesIsNotAnsweredAgain() {
        var channels = SessionChannels()
        var secrets = SessionSecrets.seeded(SeededGenerator(seed: 8))
        var table = SessionTable()
        let (_, id) = table.handle(.open(client: "owner"), on: nil, dataAddress: "d", secrets: &secrets)
        let token = table.sessions[id!]!.token
        let guess = SessionMessage.resume(session: id!, token: SessionToken(high: token.high, low: token.low &+ 1))
        for _ in 0..<SessionChannels.maximumFailedResumes {
            let (steps, _, _) = channels.receive(guess, on: 5, table: table, dataAddress: "d", secrets: &secrets)
            #expect(steps == [.reply(5, .unknownSession)])
        }
        let (silence, _, _) = channels.receive(
            .resume(session: id!, token: token), on: 5, table: table, dataAddress: "d", secrets: &secrets)
        #expect(silence.isEmpty && channels.droppedResumes == 1)
        // Another channel with the token resumes.
        let (steps, _, session) = channels.receive(
            .resume(session: id!, token: token), on: 6, table: table, dataAddress: "d", secrets: &secrets)
        #expect(session == id && steps.count == 1)
    }
}
