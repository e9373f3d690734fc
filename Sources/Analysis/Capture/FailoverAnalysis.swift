import ControlProtocol

/// A service whose host fell silent (crashed, hung or cut off) and that another host took over
/// without that host's commit (`failovers[]` in report.json): a hot standby's takeover, or a
/// migration's target that took over from a silent source. When the old host was last heard
/// of, when the new one decided and took over, under which epoch, how soon the service had its
/// standbys back, and what each receiver went without in between.
public struct FailoverFigures: Sendable, Equatable, Codable {
    /// The migration whose target took over; empty for a standby's takeover.
    public var migration: String
    public var service: String
    /// The host that fell silent, and the one that took over.
    public var from: String
    public var to: String
    /// Unix seconds of the old host's last phase event of the migration (its last word about
    /// the service), and of the new host's `failover` event.
    public var lastHeardAt: Double
    public var takenOverAt: Double
    /// From the old host's last word to the takeover.
    public var silenceMs: Double
    /// Unix seconds of the standby's decision to claim the service (nil for a migration's
    /// target), and the epoch it took it under.
    public var detectedAt: Double?
    public var epoch: Int?
    /// From the takeover until the new host had as many standbys as the service runs with
    /// (nil: it never had, or the service runs without).
    public var replicasRestoredMs: Double?
    /// Unix seconds at which the old host, cut off or woken, found its standby's lease run out
    /// and stopped serving (its own claim of the epoch, refused later), and how long after it
    /// sent the last heartbeat that standby answered. It sends nothing to a client from one
    /// lease after that heartbeat; this is when it noticed (at its next heartbeat or packet).
    /// nil: it never did (it crashed, or was still hung when the run ended).
    public var fromStoppedAt: Double?
    public var fromStoppedMs: Double?
    /// Each receiver whose stream was running when the old host fell silent (absent without a
    /// capture).
    public var receivers: [Receiver]?
    /// Summed over the receivers: packets lost across the silence; and its largest gap.
    public var lost: Int?
    public var maxGapMs: Double?

    /// One stream at one receiver across the failover.
    public struct Receiver: Sendable, Equatable, Codable {
        /// The stream (an RTP SSRC, or `ticks`) and the receiving `ip:port`.
        public var stream: String
        public var receiver: String
        /// Unix seconds of its first packet after the silence (nil: none came again).
        public var firstPacketAt: Double?
        /// The silence: the widest gap between its packets from the old host's last word to the
        /// takeover (the speaker's own silence left out), and the packets missing in it.
        public var gapMs: Double?
        public var lost: Int
    }
}

/// Turns a run's failover events and capture into `failovers[]`.
public enum FailoverAnalysis {
    /// A stream counts as running at the silence when it had a packet this long before the old
    /// host's last word, or later; the silence is looked for up to this long after the takeover.
    public static let margin = 0.5

    /// The failovers of a run, from its `failover` and `migration-phase` events, in order.
    public static func failovers(from events: [EventLine]) -> [FailoverFigures] {
        let sorted = events.sorted { $0.t < $1.t }
        var lastWord: [String: (peer: String, t: Double)] = [:]
        var failovers: [FailoverFigures] = []
        for (index, line) in sorted.enumerated() {
            if case .failover(let service, let from, let to, let epoch, let silence, let claim) = line.event {
                let t = line.t.seconds
                let restored = sorted[index...].first { later in
                    guard later.peer == to, case .standbys(service, _, let wanted, let peers) = later.event else {
                        return false
                    }
                    return wanted > 0 && peers.count >= wanted
                }
                // The old host's own claim of the epoch: when it stopped, if it lived to.
                let stopped = sorted.lazy.compactMap { other -> (at: Double, quiet: Double?)? in
                    guard other.peer == from, case .failoverPhase(service, epoch, "claim", let quiet) = other.event
                    else { return nil }
                    return (other.t.seconds, quiet)
                }.first
                failovers.append(
                    FailoverFigures(
                        migration: "", service: service, from: from, to: to, lastHeardAt: t - silence / 1000,
                        takenOverAt: t, silenceMs: silence, detectedAt: t - claim / 1000, epoch: epoch,
                        replicasRestoredMs: restored.map { (($0.t.seconds - t) * 1e6).rounded() / 1000 },
                        fromStoppedAt: stopped?.at, fromStoppedMs: stopped?.quiet))
                continue
            }
            guard case .migrationPhase(let id, let service, let from, let to, let phase) = line.event else { continue }
            if line.peer == from { lastWord[id] = (from, line.t.seconds) }
            guard phase == MigrationPhase.failover.rawValue, line.peer == to,
                !failovers.contains(where: { $0.migration == id })
            else { continue }
            let heard = lastWord[id]?.t ?? line.t.seconds
            failovers.append(
                FailoverFigures(
                    migration: id, service: service, from: from, to: to, lastHeardAt: heard,
                    takenOverAt: line.t.seconds, silenceMs: ((line.t.seconds - heard) * 1e6).rounded() / 1000))
        }
        return failovers
    }

    /// Fills each failover's receivers from the streams (`stream`, `receiver`, arrivals).
    public static func measure(
        _ failovers: inout [FailoverFigures], streams: [(stream: String, receiver: String, detail: StreamDetail)]
    ) {
        for index in failovers.indices {
            let (heard, takeover) = (failovers[index].lastHeardAt, failovers[index].takenOverAt)
            let window = (heard - margin)...(takeover + margin)
            var receivers: [FailoverFigures.Receiver] = []
            for (stream, receiver, detail) in streams {
                let fresh = detail.arrivals.filter { !$0.duplicate }
                guard let last = fresh.last(where: { $0.t <= window.upperBound }), last.t >= window.lowerBound else {
                    continue
                }
                // The silence is the widest gap over the window, if the stream came back at all
                // (the takeover's event is stamped as it is written, just after the first packet
                // the new host may already have sent).
                var widest: (before: StreamDetail.Arrival, after: StreamDetail.Arrival, gap: Int64)?
                if fresh.contains(where: { $0.t > takeover - margin }) {
                    for (a, b) in zip(fresh, fresh.dropFirst())
                    where a.t <= window.upperBound && b.t >= window.lowerBound {
                        let gap = max(0, b.microseconds - a.microseconds - b.silenceMicroseconds)
                        if gap > widest?.gap ?? -1 { widest = (a, b, gap) }
                    }
                }
                receivers.append(
                    FailoverFigures.Receiver(
                        stream: stream, receiver: receiver, firstPacketAt: widest?.after.t,
                        gapMs: widest.map { Double($0.gap) / 1000 },
                        lost: widest.map { max(0, $0.after.sequence - $0.before.sequence - 1) } ?? 0))
            }
            failovers[index].receivers = receivers
            failovers[index].lost = receivers.reduce(0) { $0 + $1.lost }
            failovers[index].maxGapMs = receivers.compactMap(\.gapMs).max()
        }
    }
}
