import OverlayCore

/// How a primary and its hot standbys watch each other.
///
/// The primary sends each standby a heartbeat every `heartbeatInterval`, over UDP, stamped with
/// its own clock; the standby sends it back. The primary sends to clients only while, for every
/// standby, the newest heartbeat it echoed was sent less than `lease` ago; a standby claims the
/// service only after `detection` without a heartbeat. A heartbeat the standby received was sent
/// no later than it arrived, so with `lease < detection` the primary has stopped sending to
/// clients before any standby may claim, whatever the link's delay (both clocks are the same
/// machine's monotonic clock, or clocks that run at the same rate). A primary whose lease ran out
/// claims the next epoch itself, without the silent standby; the registry stores at most one
/// record under an epoch, so of a primary and a standby that cannot hear each other exactly
/// one goes on (the fence). The loser stops: it never sends a client anything after.
///
/// The figures: a host that hangs leaves its clients without the service for `detection` plus
/// up to one `heartbeatInterval` plus one registry write (a few milliseconds on loopback):
/// 150 + 25 + a few ms, under the 250 ms a failover may take. False alarms need four
/// heartbeats in a row lost (or an echo's round trip over 75 ms): on `wifi`'s bursty loss that
/// is rare, and `wan` (a 150 ms round trip) is too slow for these figures.
public struct StandbySettings: Sendable, Equatable {
    public var heartbeatInterval: Duration = .milliseconds(25)
    public var lease: Duration = .milliseconds(100)
    public var detection: Duration = .milliseconds(150)
    /// A standby that received no snapshot this long after the follow gives up.
    public var installTimeout: Duration = .seconds(3)
    /// When no peer would be a standby, look again after this long.
    public var recruitRetry: Duration = .seconds(1)
    /// A new primary tells its clients this many times, a heartbeat apart (a datagram may be
    /// lost).
    public var notices = 3

    public init() {}
}

extension ServiceHosting {
    /// Whether this host may send anything to its clients now: it serves the service, claims no
    /// higher epoch, and no standby's lease ran out (none may have taken over). When it may not,
    /// hand `.leaseCheck` to the core.
    public func maySend(now: Duration) -> Bool {
        guard role == .primary, claiming == nil else { return false }
        return standbys.values.allSatisfy { standby in
            standby.leaseFrom.map { now < $0 + standbySettings.lease } ?? true
        }
    }

    /// Whether every standby that was sent the state holds it through `sequence` (an answer
    /// confirming that change may go).
    public func standbysHold(_ sequence: UInt64) -> Bool {
        standbys.values.allSatisfy { standby in
            standby.sent == nil || (standby.acknowledged.map { $0 >= sequence } ?? false)
        }
    }

    /// The standbys that hold the state, by name (for clients and events).
    public var readyStandbys: [(name: String, address: StandbyAddress)] {
        standbys.sorted { $0.key < $1.key }.compactMap { _, standby in
            guard standby.acknowledged != nil, let address = standby.address else { return nil }
            return (standby.peer.name, address)
        }
    }

    /// A non-negative instant in nanoseconds, as a heartbeat carries it.
    static func nanoseconds(_ instant: Duration) -> UInt64 {
        let (seconds, attoseconds) = instant.components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000).partialValue
            &+ UInt64(attoseconds / 1_000_000_000)
    }

    /// The standbys as they are now, and, the first time after a claim that they are as many as
    /// wanted, the failover's `restored` phase (after the clients were told who they are).
    private mutating func announce() -> [Output] {
        let ready = readyStandbys
        return [.standbysChanged(ready.map(\.address), names: ready.map(\.name), epoch: epoch, wanted: wantedStandbys)]
            + restoredIfDue()
    }

    /// The failover's `restored` phase, once after a claim, when this primary has as many
    /// standbys holding the state as it wants.
    private mutating func restoredIfDue() -> [Output] {
        guard restoring, role == .primary, readyStandbys.count >= Int(wantedStandbys) else { return [] }
        restoring = false
        return [.failoverPhase(.restored, epoch: epoch, quiet: nil)]
    }

    /// Answers held for standbys that now hold their change.
    private mutating func releaseHeld() -> [Output] {
        let (due, still) = (held.filter { standbysHold($0.through) }, held.filter { !standbysHold($0.through) })
        guard !due.isEmpty else { return [] }
        held = still
        return [.deliver(due.map(\.answer))]
    }

    // MARK: The primary's side

    /// Asks for one more standby when the service has fewer than it wants and none is sought.
    mutating func recruitIfShort() -> [Output] {
        guard role == .primary, claiming == nil, !recruiting, standbys.count < Int(wantedStandbys) else { return [] }
        recruiting = true
        return [.recruit]
    }

    mutating func recruited(
        _ stream: UInt64, _ peer: MigrationMessage.Peer?, _ identity: ServiceIdentity
    ) -> [Output] {
        recruiting = false
        guard role == .primary, claiming == nil, standbys.count < Int(wantedStandbys) else { return [] }
        guard let peer, standbys[stream] == nil else {
            return [setTimer(.recruit, after: standbySettings.recruitRetry)]
        }
        standbys[stream] = Standby(peer: peer)
        return [
            .send(
                .follow(
                    migration: stream, service: service, identity: identity, epoch: epoch, standbys: wantedStandbys,
                    primary: me), to: peer.overlay)
        ]
    }

    mutating func snapshotTaken(
        _ stream: UInt64, sequence: UInt64, size: UInt32, state: [UInt8], now: Duration
    ) -> [Output] {
        guard role == .primary, var standby = standbys[stream], standby.sent == nil else { return [] }
        standby.sent = sequence
        // It may claim no sooner than `detection` after it installed this.
        standby.leaseFrom = now
        standbys[stream] = standby
        return [
            .send(.snapshot(migration: stream, sequence: sequence, size: size, state: state), to: standby.peer.overlay)
        ]
    }

    /// Sends each standby the operation, in order after what it was sent.
    mutating func streamToStandbys(_ sequence: UInt64, _ operation: [UInt8]) -> [Output] {
        var outputs: [Output] = []
        for (stream, var standby) in standbys.sorted(by: { $0.key < $1.key }) {
            guard let sent = standby.sent, sequence == sent + 1 else { continue }
            standby.sent = sequence
            standbys[stream] = standby
            outputs.append(
                .send(
                    .operations(migration: stream, first: sequence, operations: [operation]), to: standby.peer.overlay))
        }
        return outputs
    }

    /// A standby's frame.
    mutating func primaryHears(_ message: MigrationMessage) -> [Output] {
        guard var standby = standbys[message.migration] else { return [] }
        switch message {
        case .accept(let stream, let contact, let data):
            guard standby.address == nil else { return [] }
            standby.address = StandbyAddress(control: contact, data: data)
            standbys[stream] = standby
            // The next one, if more are wanted: this one answers no other primary's query now.
            return [.takeSnapshot(stream: stream)] + recruitIfShort()
        case .acknowledge(let stream, let sequence):
            let first = standby.acknowledged == nil
            standby.acknowledged = max(standby.acknowledged ?? 0, min(sequence, standby.sent ?? 0))
            standbys[stream] = standby
            return releaseHeld() + (first ? announce() : [])
        case .refuse(let stream, _), .abort(let stream, _):
            // Its own word: it holds nothing, or gave up and will claim nothing.
            return drop([stream]) + [setTimer(.recruit, after: standbySettings.recruitRetry)]
        default:
            return []
        }
    }

    /// Forgets these standbys (they may claim nothing: they said so, or this host holds a higher
    /// epoch than the one they follow).
    private mutating func drop(_ streams: [UInt64]) -> [Output] {
        var wasReady = false
        var outputs: [Output] = []
        for stream in streams {
            guard let standby = standbys.removeValue(forKey: stream) else { continue }
            if standby.acknowledged != nil { wasReady = true }
            outputs.append(.over(migration: stream))
        }
        return outputs + releaseHeld() + (wasReady ? announce() : [])
    }

    /// Tells every standby to drop its replica (the service moves, or ends here), and forgets them.
    mutating func releaseStandbys() -> [Output] {
        let streams = standbys.keys.sorted()
        let letGo = streams.compactMap { stream in
            standbys[stream].map { Output.send(.release(migration: stream), to: $0.peer.overlay) }
        }
        return letGo + drop(streams)
    }

    /// The host lets the service go: a primary's standbys drop their replicas (a peer that
    /// shuts down takes its service with it, as without standbys); a standby tells its primary.
    mutating func letStandbysGo(because reason: String) -> [Output] {
        if role == .standby, let following {
            self.following = nil
            return [
                .send(.abort(migration: following.stream, reason: reason), to: following.primary.overlay),
                .over(migration: following.stream),
            ]
        }
        wantedStandbys = 0
        return releaseStandbys()
    }

    mutating func heartbeatTick(now: Duration) -> [Output] {
        switch role {
        case .primary:
            var outputs: [Output] = []
            for (stream, standby) in standbys.sorted(by: { $0.key < $1.key }) {
                guard let data = standby.address?.data else { continue }
                let heartbeat = StandbyHeartbeat(
                    stream: stream, epoch: epoch, sentAt: Self.nanoseconds(now), echo: false)
                outputs.append(.sendDatagram(heartbeat.bytes, to: data))
            }
            if noticesLeft > 0, let address = ownAddress {
                noticesLeft -= 1
                outputs.append(
                    .notifyClients(TakeoverNotice(epoch: epoch, control: address.control, data: address.data)))
            }
            return outputs + leaseCheck(now: now)
        case .standby:
            guard var following, claiming == nil, following.refusedEpoch == nil else { return [] }
            defer { self.following = following }
            guard let heard = following.lastHeard else {
                following.lastHeard = now
                return []
            }
            if !following.installed {
                guard now - heard > standbySettings.installTimeout else { return [] }
                return giveUpStandby(following)
            }
            guard now - heard > standbySettings.detection else { return [] }
            // The primary fell silent: claim the next epoch. Its lease ran out already.
            following.claimedAt = now
            return claim(following.epoch + 1, quiet: now - heard)
        default:
            return []
        }
    }

    private mutating func giveUpStandby(_ following: Following) -> [Output] {
        self.following = nil
        role = .closed
        return [
            .send(.abort(migration: following.stream, reason: "no state came"), to: following.primary.overlay),
            .over(migration: following.stream), .ended,
        ]
    }

    /// A primary whose standby's lease ran out claims the next epoch without it.
    mutating func leaseCheck(now: Duration) -> [Output] {
        let expired = expiredStandbys(now: now)
        guard role == .primary, claiming == nil, let oldest = expired.values.compactMap(\.leaseFrom).min() else {
            return []
        }
        let keeping = standbys.filter { expired[$0.key] == nil }.sorted { $0.key < $1.key }.compactMap {
            $0.value.address?.control
        }
        return claim(epoch + 1, quiet: now - oldest, keeping: keeping)
    }

    /// Claims `epoch` in the registry (the failover's `claim` phase first), naming the standbys
    /// kept; nothing goes to a client until the answer.
    private mutating func claim(_ epoch: UInt64, quiet: Duration, keeping: [String] = []) -> [Output] {
        claiming = epoch
        return [.failoverPhase(.claim, epoch: epoch, quiet: quiet), .claim(epoch: epoch, keeping: keeping)]
    }

    /// The standbys whose lease ran out by `now` (any of them may claim the service).
    func expiredStandbys(now: Duration) -> [UInt64: Standby] {
        standbys.filter { _, standby in standby.leaseFrom.map { now >= $0 + standbySettings.lease } ?? false }
    }

    mutating func claimed(_ claimed: UInt64, stored: Bool, now: Duration) -> [Output] {
        guard claiming == claimed else { return [] }
        claiming = nil
        switch role {
        case .primary:
            guard stored else {
                // A standby holds the epoch: it serves now, and this host stops. What waits for
                // a standby to hold it is confirmed by nobody here: the standby may lack it
                // (the client asks the new host again).
                held = []
                let letGo = releaseStandbys()
                role = .closed
                return letGo + endMigration() + [.lostClaim(epoch: claimed), .withdraw, .ended]
            }
            epoch = claimed
            let silent = expiredStandbys(now: now)
            let letGo = silent.keys.sorted().compactMap { stream in
                silent[stream].map { Output.send(.release(migration: stream), to: $0.peer.overlay) }
            }
            let quiet = silent.values.compactMap(\.leaseFrom).min().map { now - $0 } ?? .zero
            restoring = true
            // Those it kept may be all it wants (an echo came in while it claimed): restored now.
            return [.failoverPhase(.claimed, epoch: claimed, quiet: quiet)] + letGo + drop(silent.keys.sorted())
                + restoredIfDue() + recruitIfShort()
        case .standby:
            guard var following else { return [] }
            guard stored else {
                // Another standby holds the epoch and serves, or the primary claimed it itself
                // (a standby of its own fell silent) before this one heard: which, the record says.
                (following.refusedEpoch, following.refusedAt) = (claimed, now)
                self.following = following
                return [.lookUpRecord]
            }
            self.following = nil
            role = .primary
            epoch = claimed
            noticesLeft = max(0, standbySettings.notices - 1)
            restoring = true
            var outputs: [Output] = [
                .over(migration: following.stream),
                .failoverPhase(.claimed, epoch: claimed, quiet: now - (following.lastHeard ?? now)), .serving,
            ]
            if let address = ownAddress {
                outputs.append(
                    .notifyClients(TakeoverNotice(epoch: claimed, control: address.control, data: address.data)))
            }
            outputs.append(
                .tookOver(
                    from: following.primary.name, epoch: claimed, silence: now - (following.lastHeard ?? now),
                    claim: now - (following.claimedAt ?? now)))
            return outputs + recruitIfShort()
        default:
            return []
        }
    }

    /// The record of the epoch this standby's claim lost. If its own primary holds it and named
    /// this standby in it, that primary claimed it keeping this one (without another that fell
    /// silent), so it sends nothing without this one's lease, which ran out: claim the next. If
    /// the record does not name this one (the primary let it go, and may serve without it), or
    /// another host holds the epoch, stop. If the primary spoke again meanwhile, stand by on.
    mutating func standbyReads(record epoch: UInt64?, hosts: [String]) -> [Output] {
        guard var following, let refused = following.refusedEpoch, let refusedAt = following.refusedAt,
            claiming == nil
        else { return [] }
        (following.refusedEpoch, following.refusedAt) = (nil, nil)
        let heard = following.lastHeard ?? refusedAt
        if heard > refusedAt {
            self.following = following
            return [.withdraw]  // its refused claim is not to be renewed
        }
        let primaryHost = HostPort(following.primary.overlay)?.host
        if let epoch, epoch >= refused, let contact = hosts.first, HostPort(contact)?.host == primaryHost,
            let me = ownAddress?.control, hosts.dropFirst().contains(me)
        {
            following.epoch = epoch
            self.following = following
            return claim(epoch + 1, quiet: refusedAt - heard)
        }
        self.following = nil
        role = .closed
        return [.withdraw, .over(migration: following.stream), .ended]
    }

    mutating func heard(_ heartbeat: StandbyHeartbeat, from sender: String, now: Duration) -> [Output] {
        if heartbeat.echo {
            guard role == .primary, var standby = standbys[heartbeat.stream], standby.address?.data == sender else {
                return []
            }
            // No heartbeat was sent later than now: an echo stamped in the future extends the
            // lease no further than this instant.
            let sent = min(Duration.nanoseconds(Int64(clamping: heartbeat.sentAt)), now)
            // An echo of an old heartbeat (read late, after a pause) extends nothing.
            standby.leaseFrom = max(standby.leaseFrom ?? sent, sent)
            standbys[heartbeat.stream] = standby
            return []
        }
        guard role == .standby, var following, following.stream == heartbeat.stream, claiming == nil,
            HostPort(sender)?.host == HostPort(following.primary.overlay)?.host
        else { return [] }
        following.lastHeard = now
        following.epoch = max(following.epoch, heartbeat.epoch)
        self.following = following
        var echo = heartbeat
        echo.echo = true
        return [.sendDatagram(echo.bytes, to: sender)]
    }

    // MARK: The standby's side

    /// Its primary's frame: the follow (answered), the state and the operations after it
    /// (applied once, in order, and acknowledged), or the end of it.
    mutating func standbyHears(_ message: MigrationMessage) -> [Output] {
        guard var following, role == .standby else { return [] }
        let primary = following.primary.overlay
        switch message {
        case .follow(let stream, _, _, _, _, _):
            guard let address = ownAddress else { return [] }
            return [.send(.accept(migration: stream, contact: address.control, data: address.data), to: primary)]
        case .snapshot(let stream, let sequence, let size, let state):
            guard !following.installed else { return [] }
            following.installed = true
            following.applied = sequence
            following.lastHeard = nil  // the detection counts from the next tick
            self.following = following
            return [
                .install(size: size, state: state),
                .send(.acknowledge(migration: stream, sequence: sequence), to: primary),
            ]
        case .operations(let stream, let first, let operations):
            guard following.installed else { return [] }
            var outputs: [Output] = []
            for (offset, operation) in operations.enumerated() {
                let sequence = first + UInt64(offset)
                guard sequence == following.applied + 1 else {
                    if sequence <= following.applied { continue }
                    // A hole cannot be filled: this replica is no good.
                    self.following = following
                    return outputs + giveUpStandby(following)
                }
                outputs.append(.apply(operation: operation))
                following.applied = sequence
            }
            self.following = following
            return outputs + [.send(.acknowledge(migration: stream, sequence: following.applied), to: primary)]
        case .release(let stream):
            self.following = nil
            role = .closed
            return [.over(migration: stream), .ended]
        default:
            return []
        }
    }
}
