/// The source host's side of one migration, as a value: it takes the start, the service's state
/// changes, the target's messages and timer firings, and says what to send, when to freeze the
/// service, when to redirect clients, forward late traffic and drop the service.
///
/// prepare -> replicate (snapshot) -> sync (the operations since, gathered) -> commit (at the
/// target's first acknowledgement the service freezes at sequence k, as Xen's stop-and-copy
/// does; the gathered operations go in one message and the whole frozen state with the commit,
/// so a busy service's commit does not queue behind a segment per operation) -> redirect
/// (after the target took over) -> forward (late traffic to the target for a grace period) ->
/// release. A busy service never keeps the commit waiting for a quiet moment: a migration
/// commits three round trips after it starts (prepare, snapshot, commit). Before the commit, any failure
/// aborts and the source serves on. After it, the source never serves again unless the target
/// stays silent for a whole lease and the registry shows it is not serving either; then the
/// source takes the service back under a higher epoch than the target's, so a target that did
/// take over stops when it learns of it. If the registry shows the target serving, the source
/// redirects its clients there and lets go.
public struct MigrationSourceStateMachine: Sendable {
    public enum Phase: String, Sendable, Equatable, CaseIterable {
        case prepare, replicate, sync, commit, redirect, forward, release, aborted
    }

    public enum Timer: Sendable, Hashable {
        /// The target has not answered in time.
        case answer
        /// The grace period for late traffic is over.
        case grace
        /// A whole lease passed after the commit without word from the target.
        case takeBack
    }

    public struct Settings: Sendable, Equatable {
        /// Long enough for TCP to resend a frame twice on every shipped link profile (on `mobile`
        /// tshark measures retransmission timeouts of 0.4 s median, up to 0.8 s, and each
        /// doubles): a lost segment is not a lost target. Before the commit the source serves on
        /// while it waits.
        public var answerTimeout: Duration = .seconds(3)
        public var grace: Duration = .seconds(2)
        /// The service's registry lease.
        public var lease: Duration = .seconds(10)

        public init() {}
    }

    public enum Input: Sendable, Equatable {
        case start
        /// The service applied operation `sequence`.
        case changed(sequence: UInt64, operation: [UInt8])
        case message(MigrationMessage)
        case timerFired(Timer)
        /// The connection to the target failed.
        case targetUnreachable
        /// Traffic for the service (a data packet or a control message, as the service encodes
        /// it) that reached the source after the commit.
        case late(traffic: [UInt8])
        /// What the registry says after a lease without word from the target: is the target
        /// serving the service (its record, under the new epoch, alive)?
        case targetRecord(serving: Bool)
        /// The service froze (after `.freeze`): its whole state now, compressed, `size` bytes
        /// before compression.
        case frozen(size: UInt32, state: [UInt8])
    }

    public enum Output: Sendable, Equatable {
        case send(MigrationMessage)
        case setTimer(Timer, after: Duration)
        case cancelTimer(Timer)
        /// The target holds every operation through `sequence`: changes up to it may now be
        /// acknowledged to the clients that asked for them. During a migration a change is
        /// acknowledged only once the target holds it, so a crash loses nothing acknowledged.
        case replicated(through: UInt64)
        /// The service stops changing its state: from now on its traffic goes to `.late`. Answer
        /// with `.frozen`, its state as it froze.
        case freeze
        /// The migration is off before the commit: serve on as before (and acknowledge what
        /// waited for the target).
        case resume
        /// Tell every client to use the target, at `targetContact` (or where the registry says
        /// it serves).
        case redirectClients
        /// Drop the service.
        case release
        /// Look up the service's record: is the target serving it?
        case checkTarget
        /// The target never confirmed the commit and does not serve: serve again, registered
        /// under `epoch`.
        case takeBack(epoch: UInt64)
        /// After taking back: handle this late traffic here after all (the target may have died
        /// with it), in the order it came.
        case replay(traffic: [UInt8])
        case phase(Phase)
    }

    public let migration: UInt64
    public let service: String
    /// This host, as the target answers it.
    public let source: MigrationMessage.Peer
    public let identity: ServiceIdentity
    /// The epoch the target will serve under (the source's plus one).
    public let epoch: UInt64
    /// How many hot standbys the service runs with (told the target).
    public let standbys: UInt8
    public let settings: Settings
    public private(set) var phase: Phase?
    /// The sequence number of the last operation sent, and of the last one the target holds.
    public private(set) var sent: UInt64
    public private(set) var acknowledged: UInt64 = 0
    /// Where clients reach the service on the target (from its `accept`): what a redirect names.
    public private(set) var targetContact: String?
    /// Where the target takes data (from its `accept`).
    public private(set) var targetData: String?
    private let snapshot: (sequence: UInt64, size: UInt32, state: [UInt8])
    /// The sequence number the snapshot was taken at.
    public var snapshotSequence: UInt64 { snapshot.sequence }
    private var waiting: [[UInt8]] = []
    private var takingBack = false
    private var commitSent = false
    /// Late traffic handed to the target before it confirmed the takeover.
    private var lateUnconfirmed: [[UInt8]] = []

    /// `snapshot`: the service's state after `sequence` operations, encoded (and compressed) by
    /// the shell, and its size before compression.
    public init(
        migration: UInt64, service: String, source: MigrationMessage.Peer, identity: ServiceIdentity, epoch: UInt64,
        snapshot: (sequence: UInt64, size: UInt32, state: [UInt8]), standbys: UInt8 = 0,
        settings: Settings = Settings()
    ) {
        self.migration = migration
        self.standbys = standbys
        self.service = service
        self.source = source
        self.identity = identity
        self.epoch = epoch
        self.snapshot = snapshot
        self.settings = settings
        sent = snapshot.sequence
    }

    public mutating func handle(_ input: Input) -> [Output] {
        switch (input, phase) {
        case (.start, nil):
            phase = .prepare
            return [
                .phase(.prepare),
                .send(
                    .prepare(
                        migration: migration, service: service, identity: identity, epoch: epoch,
                        standbys: standbys, source: source)),
                .setTimer(.answer, after: settings.answerTimeout),
            ]
        case (.changed(_, let operation), .prepare?):
            waiting.append(operation)
            return []
        case (.changed(let sequence, let operation), .sync?) where sequence == sent + UInt64(waiting.count) + 1:
            waiting.append(operation)
            return []
        case (.changed, _):
            return []
        case (.message(let message), _) where message.migration != migration:
            return []
        case (.message(.accept(_, let contact, let data)), .prepare?):
            phase = .sync
            targetContact = contact
            targetData = data
            var outputs: [Output] = [
                .phase(.replicate),
                .send(
                    .snapshot(
                        migration: migration, sequence: snapshot.sequence, size: snapshot.size, state: snapshot.state)),
                .phase(.sync),
            ]
            outputs += sendWaiting()
            return outputs + [.setTimer(.answer, after: settings.answerTimeout)]
        case (.message(.refuse(_, let reason)), .prepare?):
            return abort(because: reason, tell: false)
        case (.message(.abort(_, let reason)), .prepare?), (.message(.abort(_, let reason)), .sync?):
            return abort(because: reason, tell: false)
        case (.message(.acknowledge(_, let sequence)), .sync?):
            // The target holds a replica: stop changing the state here; the operations still in
            // flight reach it before the commit, on the same connection.
            acknowledged = max(acknowledged, min(sequence, sent))
            phase = .commit
            // The phase is told before anything of it happens (as every phase is): a fault
            // injected at the commit falls before the freeze, so the commit never leaves.
            return [.replicated(through: acknowledged), .phase(.commit), .freeze]
        case (.frozen(let size, let state), .commit?) where !commitSent:
            commitSent = true
            return sendWaiting() + [
                .send(.commit(migration: migration, sequence: sent, size: size, state: state)),
                .setTimer(.answer, after: settings.answerTimeout),
            ]
        case (.frozen, _):
            return []
        case (.message(.acknowledge(_, let sequence)), .commit?):
            acknowledged = max(acknowledged, min(sequence, sent))
            return [.replicated(through: acknowledged)]
        case (.message(.tookOver), .commit?):
            // The target holds everything through the commit.
            phase = .forward
            acknowledged = sent
            lateUnconfirmed = []
            return [
                .replicated(through: sent), .cancelTimer(.answer), .cancelTimer(.takeBack), .phase(.redirect),
                .redirectClients, .phase(.forward), .setTimer(.grace, after: settings.grace),
            ]
        case (.message, _):
            return []
        case (.late(let traffic), .commit?):
            lateUnconfirmed.append(traffic)
            return [.send(.late(migration: migration, traffic: traffic))]
        case (.late(let traffic), .forward?):
            return [.send(.late(migration: migration, traffic: traffic))]
        case (.late, _):
            return []
        case (.timerFired(.answer), .prepare?), (.timerFired(.answer), .sync?):
            return abort(because: "the target did not answer within \(settings.answerTimeout)", tell: true)
        case (.targetUnreachable, .prepare?), (.targetUnreachable, .sync?):
            return abort(because: "the target is unreachable", tell: false)
        case (.timerFired(.answer), .commit?), (.targetUnreachable, .commit?):
            // The target may or may not have taken over: wait a lease for it, frozen.
            guard !takingBack else { return [] }
            takingBack = true
            return [.cancelTimer(.answer), .setTimer(.takeBack, after: settings.lease)]
        case (.timerFired(.takeBack), .commit?):
            return [.checkTarget]
        case (.targetRecord(let serving), .commit?) where takingBack:
            if serving {
                phase = .release
                return [.phase(.redirect), .redirectClients, .phase(.release), .release]
            }
            phase = .aborted
            return [.phase(.aborted), .takeBack(epoch: epoch + 1)] + lateUnconfirmed.map { .replay(traffic: $0) }
        case (.timerFired(.grace), .forward?):
            phase = .release
            return [.phase(.release), .send(.release(migration: migration)), .release]
        case (.timerFired, _), (.targetUnreachable, _), (.start, _), (.targetRecord, _):
            return []
        }
    }

    /// The operations made since the last were sent, in frames that fit.
    private mutating func sendWaiting() -> [Output] {
        defer {
            sent += UInt64(waiting.count)
            waiting = []
        }
        return MigrationMessage.operations(migration: migration, first: sent + 1, waiting).map { .send($0) }
    }

    private mutating func abort(because reason: String, tell: Bool) -> [Output] {
        phase = .aborted
        return [.cancelTimer(.answer), .phase(.aborted)]
            + (tell ? [.send(.abort(migration: migration, reason: reason))] : []) + [.resume]
    }
}
