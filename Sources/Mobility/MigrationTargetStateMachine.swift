/// The target host's side of one migration, as a value: it takes the source's messages, timer
/// firings and what the registry says of the source, and says what to answer, when to install
/// the replica and apply operations, when to start serving and what late traffic to handle.
///
/// It accepts only code its catalogue runs. It holds a replica from the snapshot on, applies
/// every operation once and in order, acknowledges what it holds, and takes over on the commit
/// once it holds the state through the committed sequence. If the source goes silent before
/// the commit, it keeps the replica for the source's lease, then asks whether the source's
/// record is gone: if it is, it takes over (failover); if not, the source lives and it drops
/// the replica.
public struct MigrationTargetStateMachine: Sendable {
    public enum Phase: String, Sendable, Equatable, CaseIterable {
        case prepare, replicate, sync, takeover, release, aborted
    }

    public enum Timer: Sendable, Hashable {
        /// The source has been silent too long.
        case silence
        /// The source's lease has run out since it went silent.
        case failover
    }

    public struct Settings: Sendable, Equatable {
        /// Long enough for TCP to resend a frame twice on every shipped link profile (on `mobile`
        /// tshark measures retransmission timeouts of 0.4 s median, up to 0.8 s, and each
        /// doubles): a lost segment is not a lost source.
        public var silenceTimeout: Duration = .seconds(3)
        public var lease: Duration = .seconds(10)

        public init() {}
    }

    public enum Input: Sendable, Equatable {
        case message(MigrationMessage)
        case timerFired(Timer)
        /// The connection from the source broke.
        case sourceUnreachable
        /// What the registry says after the failover wait: is the source's record still there?
        case sourceRecord(alive: Bool)
    }

    public enum Output: Sendable, Equatable {
        case send(MigrationMessage)
        case setTimer(Timer, after: Duration)
        case cancelTimer(Timer)
        /// Build the replica from this snapshot (as the source encoded it).
        case install(sequence: UInt64, size: UInt32, state: [UInt8])
        /// Apply operation `sequence` to the replica.
        case apply(sequence: UInt64, operation: [UInt8])
        /// Serve the service from the replica, registered under `epoch`.
        case serve(epoch: UInt64)
        /// Handle traffic that reached the source after the commit, as if it had come here.
        case deliver(traffic: [UInt8])
        /// Look up the service's record: is the source still registered?
        case checkSource
        /// Drop the replica.
        case discard
        case phase(Phase)
    }

    public let catalogue: ServiceCatalogue
    /// Where clients will reach the service here (control, and data), told the source on
    /// accepting.
    public let contact: String
    public let data: String
    /// The source of the migration under way: where answers go.
    public private(set) var source: MigrationMessage.Peer?
    public let settings: Settings
    public private(set) var phase: Phase?
    public private(set) var migration: UInt64?
    public private(set) var service: String?
    public private(set) var epoch: UInt64 = 0
    /// How many hot standbys the service runs with (from the prepare): the target recruits as
    /// many once it serves.
    public private(set) var standbys: UInt8 = 0
    /// The sequence number of the last operation applied to the replica.
    public private(set) var applied: UInt64 = 0
    /// True when the target took over without the source's commit.
    public private(set) var failedOver = false
    private var hosting: Set<String>
    private var waitingForLease = false
    /// Late traffic that came before the commit (as datagrams may), for the takeover.
    private var early: [[UInt8]] = []
    /// At most this much of it is kept: a second of a few dozen senders.
    static let maximumEarly = 1024

    /// `hosting`: services this host serves already (it refuses to take one of them again).
    public init(
        catalogue: ServiceCatalogue, contact: String, data: String = "", hosting: Set<String> = [],
        settings: Settings = Settings()
    ) {
        self.catalogue = catalogue
        self.contact = contact
        self.data = data
        self.hosting = hosting
        self.settings = settings
    }

    public mutating func handle(_ input: Input) -> [Output] {
        switch (input, phase) {
        case (.message(.prepare(let id, let name, let identity, let epoch, let standbys, let source)), nil):
            if let refusal = hosting.contains(name) ? .alreadyHosting(name) : catalogue.refusal(for: identity) {
                return [.send(.refuse(migration: id, reason: refusal.description))]
            }
            migration = id
            service = name
            self.source = source
            self.epoch = epoch
            self.standbys = standbys
            phase = .prepare
            return [
                .phase(.prepare), .send(.accept(migration: id, contact: contact, data: data)),
                .setTimer(.silence, after: settings.silenceTimeout),
            ]
        case (.message(let message), _) where message.migration != migration:
            return []
        case (.message(.snapshot(_, let sequence, let size, let state)), .prepare?):
            phase = .sync
            applied = sequence
            return [
                .phase(.replicate), .install(sequence: sequence, size: size, state: state), .phase(.sync),
                .send(.acknowledge(migration: migration!, sequence: sequence)),
                .setTimer(.silence, after: settings.silenceTimeout),
            ]
        case (.message(.operations(_, let first, let operations)), .sync?):
            var outputs: [Output] = []
            for (offset, operation) in operations.enumerated() {
                let sequence = first + UInt64(offset)
                guard sequence == applied + 1 else {
                    // Already held (a repeat) is skipped; a hole cannot be filled: give up.
                    if sequence <= applied { continue }
                    return outputs + abort(because: "operation \(sequence) came before \(applied + 1)")
                }
                outputs.append(.apply(sequence: sequence, operation: operation))
                applied = sequence
            }
            return outputs + [
                .send(.acknowledge(migration: migration!, sequence: applied)),
                .setTimer(.silence, after: settings.silenceTimeout),
            ]
        case (.message(.commit(_, let sequence, let size, let state)), .sync?):
            guard sequence == applied else {
                return abort(because: "commit at \(sequence), but the replica holds \(applied)")
            }
            // The state as it froze replaces the replica (it holds what changed without
            // operations too), then the target serves.
            return [.install(sequence: sequence, size: size, state: state)] + takeOver(failover: false)
                + [.send(.tookOver(migration: migration!))]
        case (.message(.late(_, let traffic)), .takeover?):
            return [.deliver(traffic: traffic)]
        case (.message(.late(_, let traffic)), .sync?):
            // A datagram that overtook the commit (it was lost and resent on the overlay): kept
            // for the takeover, and dropped with the replica if there is none.
            if early.count < Self.maximumEarly { early.append(traffic) }
            return []
        case (.message(.release), .takeover?):
            phase = .release
            return [.phase(.release)]
        case (.message(.abort), .prepare?), (.message(.abort), .sync?):
            phase = .aborted
            return [.cancelTimer(.silence), .cancelTimer(.failover), .phase(.aborted), .discard]
        case (.message, _):
            return []
        case (.timerFired(.silence), .prepare?), (.sourceUnreachable, .prepare?):
            // No replica yet: nothing to keep.
            phase = .aborted
            return [.cancelTimer(.silence), .phase(.aborted), .discard]
        case (.timerFired(.silence), .sync?), (.sourceUnreachable, .sync?):
            guard !waitingForLease else { return [] }
            waitingForLease = true
            return [.cancelTimer(.silence), .setTimer(.failover, after: settings.lease)]
        case (.timerFired(.failover), .sync?):
            return [.checkSource]
        case (.sourceRecord(let alive), .sync?) where waitingForLease:
            if alive {
                phase = .aborted
                return [.phase(.aborted), .discard]
            }
            return takeOver(failover: true)
        case (.timerFired, _), (.sourceUnreachable, _), (.sourceRecord, _):
            return []
        }
    }

    private mutating func takeOver(failover: Bool) -> [Output] {
        phase = .takeover
        failedOver = failover
        let kept = early.map { Output.deliver(traffic: $0) }
        early = []
        return [.cancelTimer(.silence), .cancelTimer(.failover), .serve(epoch: epoch), .phase(.takeover)] + kept
    }

    private mutating func abort(because reason: String) -> [Output] {
        phase = .aborted
        return [
            .cancelTimer(.silence), .phase(.aborted), .send(.abort(migration: migration!, reason: reason)), .discard,
        ]
    }
}
