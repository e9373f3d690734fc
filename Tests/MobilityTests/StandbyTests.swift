import OverlayCore
import Testing

@testable import Mobility

/// Hot standbys' own datagrams read back, and bad ones are refused with their offset; a client
/// follows a takeover notice only from a standby its service named, and tries those standbys
/// before the registry when its host falls silent.
@Suite struct StandbyTests {
    @Test func heartbeatsAndNoticesReadBackAndBadOnesAreRefusedWithTheirOffset() throws {
        let heartbeat = StandbyHeartbeat(stream: 7, epoch: 3, sentAt: 123_456_789, echo: true)
        #expect(Array(heartbeat.bytes.prefix(3)) == [0x4D, 0x48, 1] && heartbeat.bytes.count == 28)
        #expect(try StandbyHeartbeat(bytes: heartbeat.bytes) == heartbeat)
        #expect(heartbeat.bytes.withUnsafeBytes(StandbyHeartbeat.looksLike))
        #expect(!heartbeat.bytes.withUnsafeBytes(LateDatagram.looksLike))
        var badEcho = heartbeat.bytes
        badEcho[27] = 2
        #expect(throws: WireError.invalid("echo flag 2", offset: 27)) { try StandbyHeartbeat(bytes: badEcho) }
        for length in 0..<heartbeat.bytes.count {
            #expect(throws: WireError.self) { try StandbyHeartbeat(bytes: Array(heartbeat.bytes.prefix(length))) }
        }
        #expect(throws: WireError.trailingBytes(offset: 28)) { try StandbyHeartbeat(bytes: heartbeat.bytes + [0]) }

        let notice = TakeoverNotice(epoch: 9, control: "10.0.0.3:7000", data: "10.0.0.3:7001")
        #expect(try TakeoverNotice(bytes: notice.bytes) == notice)
        #expect(notice.bytes.withUnsafeBytes(TakeoverNotice.looksLike))
        #expect(throws: WireError.invalid("takeover notice without an address", offset: 11)) {
            try TakeoverNotice(bytes: TakeoverNotice(epoch: 1, control: "", data: "x").bytes)
        }
        #expect(throws: WireError.invalid("not a takeover notice", offset: 0)) {
            try TakeoverNotice(bytes: DataRedirect(data: "x").bytes)
        }
        // A standbys message names at most 16.
        var tooMany = SessionMessage.standbys([]).frame
        tooMany[2] = 17
        #expect(throws: WireError.invalid("17 standbys", offset: 2)) { try SessionMessage(frame: tooMany) }
    }

    static let standby = StandbyAddress(control: "standby:1", data: "standby:2")

    @Test func aClientFollowsATakeoverNoticeOnlyFromAStandbyItWasTold() {
        var client = SessionSimulationTests.readyClient(
            "c", session: SessionID(high: 0, low: 5), token: SessionToken(high: 0, low: 9))
        let notice = TakeoverNotice(epoch: 2, control: Self.standby.control, data: Self.standby.data)
        // Before the service named its standbys: a stranger's notice.
        #expect(client.handle(.takeover(from: "standby:2", notice)).isEmpty)
        #expect(client.handle(.message(1, .standbys([Self.standby]))).isEmpty)
        #expect(client.standbys == [Self.standby])
        // From another address than the standby's data socket: ignored.
        #expect(client.handle(.takeover(from: "thief:2", notice)).isEmpty)
        // A notice naming another host: ignored.
        let other = TakeoverNotice(epoch: 2, control: "thief:1", data: "thief:2")
        #expect(client.handle(.takeover(from: "thief:2", other)).isEmpty)
        // The standby: data goes there at once, and the session resumes on a channel to it.
        #expect(
            client.handle(.takeover(from: "standby:2", notice)) == [
                .useData("standby:2"), .connect(2, to: "standby:1"),
            ])
        _ = client.handle(.connected(2))
        let moved = client.handle(
            .message(
                2,
                .ready(
                    session: SessionID(high: 0, low: 5), token: SessionToken(high: 0, low: 9), appliedThrough: 0,
                    data: "standby:2")))
        #expect(moved.prefix(2) == [.close(1), .moved(control: "standby:1")])
        // Its next notices: nothing more.
        #expect(client.handle(.takeover(from: "standby:2", notice)).isEmpty)
    }

    @Test func aClientWhoseHostFallsSilentTriesItsStandbysBeforeTheRegistry() {
        var client = SessionSimulationTests.readyClient(
            "c", session: SessionID(high: 0, low: 5), token: SessionToken(high: 0, low: 9))
        _ = client.handle(.message(1, .standbys([Self.standby])))
        // The check after its last word, then three silent ones: the channel is given up, and
        // the standby tried first.
        var outputs: [ServiceConnectionStateMachine.Output] = []
        for _ in 0..<4 { outputs = client.handle(.timerFired(.liveness)) }
        #expect(outputs == [.close(1), .connect(2, to: "standby:1")])
        // It does not serve (it refuses the channel): the registry next, after a backoff.
        #expect(client.handle(.closed(2)) == [.setTimer(.backoff, after: .milliseconds(100))])
        #expect(client.handle(.timerFired(.backoff)) == [.resolve])
    }
}

/// The failover's phases as a primary's core reports them: `claim` before the claim goes out
/// (with how long the standby had been quiet), `claimed` once the registry stored it, and
/// `restored` once a new standby holds the state, after the standbys were announced.
@Suite struct FailoverPhaseTests {
    typealias Hosting = ServiceHosting<UInt64>

    static let me = MigrationMessage.Peer(name: "p", overlay: "10.0.0.1:4000")
    static let identity = ServiceIdentity(kind: "counter", version: 1, digest: [1])

    /// The phases among `outputs`, in order, with each one's place among them.
    static func phases(_ outputs: [Hosting.Output]) -> [(
        index: Int, phase: FailoverPhase, epoch: UInt64, quiet: Duration?
    )] {
        outputs.enumerated().compactMap { index, output in
            guard case .failoverPhase(let phase, let epoch, let quiet) = output else { return nil }
            return (index, phase, epoch, quiet)
        }
    }

    /// Recruits `peer` as a standby on `stream` and has it acknowledge the state at `now`.
    static func standBy(_ hosting: inout Hosting, stream: UInt64, peer: String, now: Duration) -> [Hosting.Output] {
        let standby = MigrationMessage.Peer(name: peer, overlay: "\(peer):4000")
        _ = hosting.handle(.recruited(stream: stream, peer: standby, identity: identity))
        _ = hosting.handle(.message(.accept(migration: stream, contact: "\(peer):7000", data: "\(peer):5000")))
        _ = hosting.handle(.snapshotTaken(stream: stream, sequence: 0, size: 0, state: [], now: now))
        return hosting.handle(.message(.acknowledge(migration: stream, sequence: 0)))
    }

    /// A primary that loses its claim (a standby took over) confirms nothing that was waiting
    /// for that standby: it may not hold the change.
    @Test func aPrimaryThatLosesItsClaimConfirmsNothingItHeld() {
        var hosting = Hosting(primary: "svc", epoch: 1)
        _ = hosting.handle(.keepStandbys(count: 1, me: Self.me))
        _ = Self.standBy(&hosting, stream: 5, peer: "s1", now: .zero)
        _ = hosting.handle(.changed(sequence: 1, operation: [1]))
        #expect(hosting.answer(7, through: 1).isEmpty)  // held until s1 holds change 1
        _ = hosting.handle(.leaseCheck(now: .milliseconds(130)))
        let lost = hosting.handle(.claimed(epoch: 2, stored: false, now: .milliseconds(140)))
        #expect(!lost.contains { if case .deliver = $0 { true } else { false } }, "\(lost)")
        #expect(hosting.role == .closed)
    }

    @Test func aPrimaryWhoseStandbyFellSilentReportsClaimClaimedAndRestored() {
        var hosting = Hosting(primary: "svc", epoch: 1)
        _ = hosting.handle(.keepStandbys(count: 1, me: Self.me))
        let ready = Self.standBy(&hosting, stream: 5, peer: "s1", now: .zero)
        // Standbys held from the start: no failover, no phase.
        #expect(Self.phases(ready).isEmpty)
        #expect(hosting.maySend(now: .milliseconds(99)) && !hosting.maySend(now: .milliseconds(100)))

        let check = hosting.handle(.leaseCheck(now: .milliseconds(130)))
        let claim = Self.phases(check)
        #expect(claim.count == 1 && claim[0].phase == .claim && claim[0].epoch == 2)
        #expect(claim.first?.quiet == .milliseconds(130))
        guard case .claim(2, let keeping)? = check.last, keeping.isEmpty, claim.first?.index == check.count - 2 else {
            Issue.record("the phase does not come just before the claim: \(check)")
            return
        }

        let stored = hosting.handle(.claimed(epoch: 2, stored: true, now: .milliseconds(140)))
        let claimed = Self.phases(stored)
        #expect(claimed.map(\.phase) == [.claimed] && claimed.first?.epoch == 2)
        #expect(claimed.first?.quiet == .milliseconds(140))
        #expect(hosting.epoch == 2 && hosting.standbys.isEmpty)

        let back = Self.standBy(&hosting, stream: 6, peer: "s2", now: .milliseconds(200))
        let restored = Self.phases(back)
        #expect(restored.map(\.phase) == [.restored] && restored.first?.quiet == nil)
        guard let at = restored.first?.index, case .standbysChanged(_, let names, 2, 1)? = back[..<at].last else {
            Issue.record("restored does not follow the standbys' announcement: \(back)")
            return
        }
        #expect(names == ["s2"])
        // Only once per claim.
        #expect(Self.phases(Self.standBy(&hosting, stream: 7, peer: "s3", now: .milliseconds(210))).isEmpty)
    }
}

/// An echo stamped later than the primary's clock (a standby that lies, or a clock it does not
/// share) extends the lease no further than the instant it came.
@Suite struct EchoStampTests {
    @Test func anEchoFromTheFutureExtendsTheLeaseOnlyToNow() {
        var hosting = FailoverPhaseTests.Hosting(primary: "svc", epoch: 1)
        _ = hosting.handle(.keepStandbys(count: 1, me: FailoverPhaseTests.me))
        _ = FailoverPhaseTests.standBy(&hosting, stream: 5, peer: "s1", now: .zero)
        let forged = StandbyHeartbeat(stream: 5, epoch: 1, sentAt: 3_600_000_000_000, echo: true)
        _ = hosting.handle(.heartbeat(forged, from: "s1:5000", now: .milliseconds(50)))
        #expect(hosting.maySend(now: .milliseconds(149)))
        #expect(!hosting.maySend(now: .milliseconds(150)))
    }
}

/// Every epoch a peer decodes is at most `WireBounds.epoch`: one above it is refused with its
/// offset, so no `epoch + 1` or `Int(epoch)` after it can trap.
@Suite struct EpochBoundTests {
    @Test func anEpochAboveTheBoundIsRefusedInEveryFormat() {
        let high = WireBounds.epoch + 1
        let heartbeat = StandbyHeartbeat(stream: 1, epoch: high, sentAt: 0, echo: false)
        #expect(throws: WireError.invalid("epoch \(high) (at most \(WireBounds.epoch))", offset: 11)) {
            try StandbyHeartbeat(bytes: heartbeat.bytes)
        }
        let notice = TakeoverNotice(epoch: UInt64.max, control: "a:1", data: "a:2")
        #expect(throws: WireError.self) { try TakeoverNotice(bytes: notice.bytes) }
        let peer = MigrationMessage.Peer(name: "p", overlay: "10.0.0.1:4000")
        let identity = ServiceIdentity(kind: "k", version: 1, digest: [1])
        for message in [
            MigrationMessage.prepare(
                migration: 1, service: "s", identity: identity, epoch: high, standbys: 0, source: peer),
            .follow(migration: 1, service: "s", identity: identity, epoch: UInt64.max, standbys: 1, primary: peer),
            // More standbys than a service runs with.
            .follow(migration: 1, service: "s", identity: identity, epoch: 1, standbys: 9, primary: peer),
        ] {
            #expect(throws: WireError.self) { try MigrationMessage(frame: message.frame) }
        }
        // Sequence numbers too: a snapshot, operations, an acknowledgement, a commit.
        for message in [
            MigrationMessage.snapshot(migration: 1, sequence: .max, size: 1, state: [0]),
            .operations(migration: 1, first: WireBounds.sequence + 1, operations: [[1]]),
            .acknowledge(migration: 1, sequence: .max), .commit(migration: 1, sequence: .max, size: 1, state: [0]),
        ] {
            #expect(throws: WireError.self) { try MigrationMessage(frame: message.frame) }
        }
        let fine = StandbyHeartbeat(stream: 1, epoch: WireBounds.epoch, sentAt: 0, echo: false)
        #expect((try? StandbyHeartbeat(bytes: fine.bytes)) == fine)
    }
}
