import ControlProtocol

/// One migration as the run saw it (`handoffs[]` in report.json): its phases from events.jsonl
/// and, from the capture, what every receiver got while it happened.
public struct HandoffFigures: Sendable, Equatable, Codable {
    public var migration: String
    public var service: String
    public var from: String
    public var to: String
    /// Why it happened: `migrate` (a scenario's step asked for it) or `leave` (its source was
    /// leaving and handed the service over).
    public var cause = "migrate"
    /// Unix seconds of the migration's first and last phase event.
    public var start: Double
    public var end: Double
    /// The phases in time order, and the last one (`release` when it completed).
    public var phases: [String]
    public var outcome: String
    /// From the first phase (`prepare`, the source asking the target) to `commit` (the source
    /// stops changing state): how long the migration took to converge.
    public var commitMs: Double?
    /// From `commit` (the source stops changing state) to `takeover` (the target is primary).
    public var takeoverMs: Double?
    /// Bytes between the two hosts inside the window: migration control and state on the
    /// overlay port, and the late data forwarded as datagrams (DHT traffic between them in that
    /// window counts too).
    public var overheadBytes: Int?
    /// From the source's `migration-transfer` event: the snapshot before and after
    /// compression, the operations streamed after it, the late traffic forwarded.
    public var snapshotBytes: Int?
    public var snapshotCompressedBytes: Int?
    public var operations: Int?
    public var lateForwarded: Int?
    /// Packets that arrived inside the window, summed over every stream and receiver.
    public var packets: Int?
    /// Summed over every stream and receiver, over the window (`start` - margin to `end` +
    /// margin); absent without a capture.
    public var lost: Int?
    /// Of `lost`, what the emulated network dropped and what the peers lost (both nil without a
    /// drops capture): a seamless migration loses nothing itself.
    public var lostByNetwork: Int?
    public var lostByService: Int?
    public var duplicates: Int?
    public var reordered: Int?
    public var maxGapMs: Double?
    /// The largest gap less what the service did not cause: a frame for each packet inside it
    /// that the emulated network dropped (netns mode), and how late the sender itself put the
    /// packet after it on the wire (`senderLateMs`). What the migration kept the receivers
    /// waiting.
    public var maxServiceGapMs: Double?
    /// Inside the window, the most a voice sender (a speaking client) itself was behind its
    /// pace between two packets, as its own packets show on the wire before any relay had
    /// them: its process not scheduled in time, which no host of the service can cause.
    public var senderLateMs: Double?
}

/// Turns a run's migration events and capture into `handoffs[]`.
public enum HandoffAnalysis {
    /// How far the window reaches before a migration's first and after its last event: packets
    /// in flight at the seam land within it.
    public static let margin = 0.5

    /// The migrations of a run, from their `migration-phase` events, in order of start.
    public static func handoffs(from events: [EventLine]) -> [HandoffFigures] {
        var byID: [String: HandoffFigures] = [:]
        var times: [String: [String: Double]] = [:]
        var transfers: [String: (snapshot: Int, compressed: Int, operations: Int, late: Int)] = [:]
        var handedOver: Set<String> = []
        for line in events.sorted(by: { $0.t < $1.t }) {
            if case .handover(_, let id, _, _, _) = line.event, !id.isEmpty { handedOver.insert(id) }
            if case .migrationTransfer(let id, _, let snapshot, let compressed, let operations, let late) = line.event {
                transfers[id] = (snapshot, compressed, operations, late)
            }
            guard case .migrationPhase(let id, let service, let from, let to, let phase) = line.event else { continue }
            let t = line.t.seconds
            if byID[id] == nil {
                byID[id] = HandoffFigures(
                    migration: id, service: service, from: from, to: to, start: t, end: t, phases: [], outcome: phase)
            }
            byID[id]!.end = t
            byID[id]!.phases.append(phase)
            byID[id]!.outcome = phase
            times[id, default: [:]][phase] = times[id]?[phase] ?? t
        }
        return byID.values.map { handoff in
            var handoff = handoff
            if handedOver.contains(handoff.migration) { handoff.cause = "leave" }
            if let commit = times[handoff.migration]?[MigrationPhase.commit.rawValue] {
                handoff.commitMs = ((commit - handoff.start) * 1e6).rounded() / 1000
                if let takeover = times[handoff.migration]?[MigrationPhase.takeover.rawValue] {
                    handoff.takeoverMs = ((takeover - commit) * 1e6).rounded() / 1000
                }
            }
            if let transfer = transfers[handoff.migration] {
                handoff.snapshotBytes = transfer.snapshot
                handoff.snapshotCompressedBytes = transfer.compressed
                handoff.operations = transfer.operations
                handoff.lateForwarded = transfer.late
            }
            return handoff
        }.sorted { ($0.start, $0.migration) < ($1.start, $1.migration) }
    }

    /// Fills each handoff's window figures from the streams' arrivals and the overlay traffic
    /// between its hosts; `addresses` maps peer names to their IP addresses. `origins`: the
    /// streams as their senders put them on the wire (every sender a client of the run), which
    /// tell each sender's own lateness; none for a bare capture.
    public static func measure(
        _ handoffs: inout [HandoffFigures], streams: [StreamDetail], hostTraffic: [HostPacket],
        addresses: [String: String], networkKnown: Bool = false, origins: [StreamDetail] = []
    ) {
        let sent = SendTimes(origins)
        for index in handoffs.indices {
            let window = (handoffs[index].start - margin)...(handoffs[index].end + margin)
            var lost = 0
            var lostByNetwork = 0
            var packets = 0
            var duplicates = 0
            var reordered = 0
            var maxGap = 0.0
            var maxServiceGap = 0.0
            var senderLate: Int64 = 0
            for stream in streams {
                for arrival in stream.arrivals where window.contains(arrival.t) {
                    if !arrival.duplicate { packets += 1 }
                    if arrival.duplicate { duplicates += 1 }
                    if arrival.reordered { reordered += 1 }
                }
                let fresh = stream.arrivals.filter { !$0.duplicate }
                // A gap counts if it overlaps the window; the speaker's silence is not part of it.
                let frame = stream.framePeriodMicroseconds
                for (a, b) in zip(fresh, fresh.dropFirst()) where a.t <= window.upperBound && b.t >= window.lowerBound {
                    let gap = max(0, b.microseconds - a.microseconds - b.silenceMicroseconds)
                    maxGap = max(maxGap, Double(gap) / 1000)
                    // Less a frame for each packet between them that the network dropped.
                    let dropped =
                        b.sequence > a.sequence + 1
                        ? (a.sequence + 1..<b.sequence).count { stream.lostByNetwork.contains($0) } : 0
                    // Less how far behind its pace the sender itself sent b.
                    let late = sent.lateness(of: stream, from: a, to: b, frame: frame)
                    if late > 0, a.t >= window.lowerBound { senderLate = max(senderLate, late) }
                    // (Each part taken at most once the gap, so a crafted capture cannot overflow.)
                    let drops = Int64(dropped).multipliedReportingOverflow(by: frame)
                    let ownGap = gap - min(gap, drops.overflow ? gap : drops.partialValue)
                    maxServiceGap = max(maxServiceGap, Double(ownGap - min(ownGap, late)) / 1000)
                }
                // A hole in the sequence counts if the arrivals around it overlap the window.
                let bySequence = fresh.sorted { $0.sequence < $1.sequence }
                for (a, b) in zip(bySequence, bySequence.dropFirst()) where b.sequence - a.sequence > 1 {
                    if min(a.t, b.t) <= window.upperBound && max(a.t, b.t) >= window.lowerBound {
                        lost += b.sequence - a.sequence - 1
                        lostByNetwork += (a.sequence + 1..<b.sequence).count { stream.lostByNetwork.contains($0) }
                    }
                }
            }
            handoffs[index].lost = lost
            handoffs[index].lostByNetwork = networkKnown ? lostByNetwork : nil
            handoffs[index].lostByService = networkKnown ? lost - lostByNetwork : nil
            handoffs[index].maxServiceGapMs = maxServiceGap
            handoffs[index].senderLateMs = Double(senderLate) / 1000
            handoffs[index].packets = packets
            handoffs[index].duplicates = duplicates
            handoffs[index].reordered = reordered
            handoffs[index].maxGapMs = maxGap
            if let from = addresses[handoffs[index].from], let to = addresses[handoffs[index].to] {
                handoffs[index].overheadBytes = hostTraffic.filter {
                    window.contains($0.t)
                        && (($0.source == from && $0.destination == to) || ($0.source == to && $0.destination == from))
                }.reduce(0) { $0 + $1.bytes }
            }
        }
    }
}

/// When each RTP sender put each of its packets on the wire: the earliest arrival of an
/// (SSRC, sequence number) in the streams a client sent (a speaker's packets to its relay).
/// Only those: a packet with a speaker's SSRC from anyone else would move the time.
struct SendTimes {
    /// Arrival times (Unix µs, ascending) per SSRC and 16-bit sequence number.
    private var times: [UInt32: [UInt16: [Int64]]] = [:]
    /// How far back from an arrival its sending is looked for: well under the 21 minutes in
    /// which 50 packets a second wrap the 16-bit sequence number.
    static let horizon: Int64 = 10_000_000

    init(_ streams: [StreamDetail]) {
        for stream in streams {
            guard let ssrc = stream.ssrc else { continue }
            for arrival in stream.arrivals where !arrival.duplicate {
                times[ssrc, default: [:]][Self.sequence(arrival, in: stream), default: []].append(arrival.microseconds)
            }
        }
        for ssrc in times.keys {
            for sequence in times[ssrc]!.keys { times[ssrc]![sequence]!.sort() }
        }
    }

    private static func sequence(_ arrival: StreamDetail.Arrival, in stream: StreamDetail) -> UInt16 {
        UInt16(truncatingIfNeeded: stream.origin &+ Int64(arrival.sequence))
    }

    /// When the packet that arrived as `arrival` was first on the wire.
    private func sent(_ arrival: StreamDetail.Arrival, in stream: StreamDetail) -> Int64? {
        guard let ssrc = stream.ssrc, let seen = times[ssrc]?[Self.sequence(arrival, in: stream)] else { return nil }
        return seen.first { $0 > arrival.microseconds - Self.horizon && $0 <= arrival.microseconds }
    }

    /// How much later than its pace (`frame` per sequence number, silences aside) the sender
    /// put `b` on the wire after `a`; 0 for ticks, or when the sender kept its pace.
    func lateness(
        of stream: StreamDetail, from a: StreamDetail.Arrival, to b: StreamDetail.Arrival, frame: Int64
    ) -> Int64 {
        guard frame > 0, let sentA = sent(a, in: stream), let sentB = sent(b, in: stream) else { return 0 }
        let (steps, over) = Int64(b.sequence - a.sequence).multipliedReportingOverflow(by: frame)
        let (paced, beyond) = steps.addingReportingOverflow(b.silenceMicroseconds)
        let (took, wrapped) = sentB.subtractingReportingOverflow(sentA)
        guard !over, !beyond, !wrapped else { return 0 }
        let (lateness, overflow) = took.subtractingReportingOverflow(paced)
        return overflow ? 0 : max(0, lateness)
    }
}

/// Loss inside the handoff windows against loss outside them, over every stream and receiver:
/// on a lossy link a handoff should add none (`handoffLoss` in report.json).
public struct HandoffLoss: Sendable, Equatable, Codable {
    public var insidePackets: Int
    public var insideLost: Int
    public var outsidePackets: Int
    public var outsideLost: Int
    /// Lost / (arrived + lost), inside and outside the windows, and inside minus outside.
    public var insideRate: Double
    public var outsideRate: Double
    public var excessRate: Double
    /// How many standard errors the inside rate lies above the outside one (two-proportion z
    /// test, pooled): on a lossy link the two rates differ by chance, and above 2.33 the
    /// difference is significant at 1 % (one-sided). 0 when nothing was lost. The test takes
    /// losses as independent, which bursty links (Gilbert-Elliott) do not lose; with a drops
    /// capture the split below says it exactly.
    public var excessZ: Double
    /// Of the losses inside and outside the windows, those the peers caused rather than the
    /// emulated network (nil without a drops capture).
    public var insideLostByService: Int?
    public var outsideLostByService: Int?

    /// The split for `handoffs` (their windows) over `streams`; nil without handoffs.
    public init?(handoffs: [HandoffFigures], streams: [StreamDetail], networkKnown: Bool = false) {
        guard !handoffs.isEmpty else { return nil }
        let windows = handoffs.map { ($0.start - HandoffAnalysis.margin)...($0.end + HandoffAnalysis.margin) }
        func inside(_ t: Double) -> Bool { windows.contains { $0.contains(t) } }
        (insidePackets, insideLost, outsidePackets, outsideLost) = (0, 0, 0, 0)
        var byService = (inside: 0, outside: 0)
        for stream in streams {
            let fresh = stream.arrivals.filter { !$0.duplicate }
            for arrival in fresh {
                if inside(arrival.t) { insidePackets += 1 } else { outsidePackets += 1 }
            }
            // A hole belongs inside when the arrivals around it touch a window.
            let bySequence = fresh.sorted { $0.sequence < $1.sequence }
            for (a, b) in zip(bySequence, bySequence.dropFirst()) where b.sequence - a.sequence > 1 {
                let missing = b.sequence - a.sequence - 1
                let touches = windows.contains { min(a.t, b.t) <= $0.upperBound && max(a.t, b.t) >= $0.lowerBound }
                if touches { insideLost += missing } else { outsideLost += missing }
                let service = (a.sequence + 1..<b.sequence).count { !stream.lostByNetwork.contains($0) }
                if touches { byService.inside += service } else { byService.outside += service }
            }
        }
        func rate(_ lost: Int, _ arrived: Int) -> Double {
            lost + arrived == 0 ? 0 : (Double(lost) / Double(lost + arrived) * 1e6).rounded() / 1e6
        }
        insideRate = rate(insideLost, insidePackets)
        outsideRate = rate(outsideLost, outsidePackets)
        excessRate = ((insideRate - outsideRate) * 1e6).rounded() / 1e6
        let inside = Double(insidePackets + insideLost)
        let outside = Double(outsidePackets + outsideLost)
        let pooled = Double(insideLost + outsideLost) / max(1, inside + outside)
        let error = (pooled * (1 - pooled) * (1 / max(1, inside) + 1 / max(1, outside))).squareRoot()
        let z = error > 0 ? (Double(insideLost) / max(1, inside) - Double(outsideLost) / max(1, outside)) / error : 0
        excessZ = (z * 100).rounded() / 100
        insideLostByService = networkKnown ? byService.inside : nil
        outsideLostByService = networkKnown ? byService.outside : nil
    }
}

/// A packet that may pass between hosts rather than to a client: TCP on the overlay port
/// (migration frames, the DHT) and UDP that reads as neither RTP, RTCP nor a game tick (the
/// late data a migration's source forwards as datagrams). Who sent how much to whom, when.
public struct HostPacket: Sendable, Equatable {
    public var t: Double
    public var source: String
    public var destination: String
    public var bytes: Int
}
