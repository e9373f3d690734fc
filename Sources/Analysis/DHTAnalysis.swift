import ControlProtocol
import DHT

/// The `dht` section of report.json: every lookup judged against the true membership of the
/// ring (from the run's own events, not from what the ring believed), and what keeping the
/// ring cost each peer.
public struct DHTFigures: Sendable, Equatable, Codable {
    /// Peers that joined the ring during the run.
    public var joined: Int
    public var lookups: Int
    /// Lookups that returned a node.
    public var succeeded: Int
    /// Lookups whose node was the key's true successor among the ring's members when the
    /// lookup was issued or when it returned.
    public var correct: Int
    /// Remote queries per succeeded lookup.
    public var meanHops: Double?
    public var p99LatencyMs: Double?
    public var meanLatencyMs: Double?
    /// `register` commands whose record reached its primary, and `resolve` answers that found
    /// a host.
    public var registered: Int
    public var resolved: Int
    public var resolvedFound: Int
    /// Frames peers dropped as malformed (their own counters).
    public var malformedFrames: Int
    /// From the peers' own counters: DHT bytes each sent per second of membership (mean over
    /// peers), and the part of it that was ring maintenance (stabilization, liveness,
    /// replication, leaves; finger repair travels as lookups and is not in it).
    public var sentBytesPerSecondPerPeer: Double?
    public var maintenanceBytesPerSecondPerPeer: Double?
    /// From the capture: overlay bytes (IP headers included) each peer sent per second of
    /// membership, mean and largest over peers.
    public var capturedBytesPerSecondPerPeer: Double?
    public var capturedBytesPerSecondMaxPeer: Double?

    /// Each peer's time in the ring: from `dht-joined` until it was told to leave, crashed,
    /// stopped or exited.
    struct Member {
        var id: ChordID
        var joined: Double
        var ended = Double.infinity
        var sentBytes = 0
        var maintenanceBytes = 0
        var countersAt: Double?
        var malformed = 0
    }

    /// Nil when the run never used the DHT.
    public init?(events: [EventLine]) {
        var members: [String: Member] = [:]
        var addresses: [String: String] = [:]  // ip:port -> peer
        var lookups: [(t: Double, key: ChordID?, result: String?, hops: Int, latencyMs: Double)] = []
        var registered = 0
        var resolved = 0
        var found = 0
        for line in events.sorted(by: { $0.t < $1.t }) {
            let t = line.t.seconds
            switch line.event {
            case .ready(_, let address, let tcpPort, _):
                addresses["\(address):\(tcpPort)"] = line.peer
            case .dhtJoined(let hex, _):
                if let id = ChordID(hex: hex) { members[line.peer] = Member(id: id, joined: t) }
            case .leaveSent, .crashSent, .leaving, .stopping, .exited:
                if members[line.peer]?.ended == .infinity { members[line.peer]?.ended = t }
            case .dhtTraffic(let sent, let maintenance, _, let malformed):
                members[line.peer]?.sentBytes = sent
                members[line.peer]?.maintenanceBytes = maintenance
                members[line.peer]?.countersAt = t
                members[line.peer]?.malformed = malformed
            case .lookup(let key, let result, let hops, let latencyMs):
                lookups.append((t, ChordID(hex: key), result, hops, latencyMs))
            case .registered(_, _, let stored):
                if stored { registered += 1 }
            case .resolved(_, let host, _, _, _):
                resolved += 1
                if host != nil { found += 1 }
            default:
                break
            }
        }
        guard !members.isEmpty || !lookups.isEmpty else { return nil }

        func trueSuccessor(of key: ChordID, at time: Double) -> String? {
            let live = members.filter { $0.value.joined <= time && time < $0.value.ended }
            let ring = live.sorted { $0.value.id < $1.value.id }
            return (ring.first { key <= $0.value.id } ?? ring.first)?.key
        }
        let succeeded = lookups.filter { $0.result != nil }
        let correct = succeeded.filter { lookup in
            guard let key = lookup.key, let result = lookup.result, let peer = addresses[result] else { return false }
            return peer == trueSuccessor(of: key, at: lookup.t)
                || peer == trueSuccessor(of: key, at: lookup.t - lookup.latencyMs / 1000)
        }
        self.joined = members.count
        self.lookups = lookups.count
        self.succeeded = succeeded.count
        self.correct = correct.count
        let latencies = succeeded.map(\.latencyMs).sorted()
        self.meanHops = succeeded.isEmpty ? nil : Double(succeeded.saturatingSum(\.hops)) / Double(succeeded.count)
        self.meanLatencyMs = latencies.isEmpty ? nil : latencies.reduce(0, +) / Double(latencies.count)
        self.p99LatencyMs = Self.percentile(0.99, of: latencies)
        self.registered = registered
        self.resolved = resolved
        self.resolvedFound = found
        self.malformedFrames = members.values.saturatingSum(\.malformed)
        let counted = members.values.compactMap { member -> (Double, Int, Int)? in
            guard let at = member.countersAt, at - member.joined >= 5 else { return nil }
            return (at - member.joined, member.sentBytes, member.maintenanceBytes)
        }
        self.sentBytesPerSecondPerPeer =
            counted.isEmpty ? nil : counted.map { Double($0.1) / $0.0 }.reduce(0, +) / Double(counted.count)
        self.maintenanceBytesPerSecondPerPeer =
            counted.isEmpty ? nil : counted.map { Double($0.2) / $0.0 }.reduce(0, +) / Double(counted.count)
    }

    /// Nearest-rank percentile.
    static func percentile(_ fraction: Double, of sorted: [Double]) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }

    /// Adds the capture's view: overlay bytes each member sent per second of membership.
    mutating func measure(_ bandwidth: BandwidthFigures, events: [EventLine], captureEnd: Double) {
        guard let overlay = bandwidth.classes.firstIndex(of: "overlay") else { return }
        var members: [String: Member] = [:]
        for line in events.sorted(by: { $0.t < $1.t }) {
            switch line.event {
            case .dhtJoined(let hex, _):
                if let id = ChordID(hex: hex) { members[line.peer] = Member(id: id, joined: line.t.seconds) }
            case .leaveSent, .crashSent, .leaving, .stopping, .exited:
                if members[line.peer]?.ended == .infinity { members[line.peer]?.ended = line.t.seconds }
            default: break
            }
        }
        let rates = bandwidth.hosts.compactMap { host -> Double? in
            guard let name = host.name, let member = members[name], overlay < host.sent.count else { return nil }
            let seconds = min(member.ended, captureEnd) - member.joined
            guard seconds >= 5 else { return nil }
            // Windows within the membership only.
            let window = Double(bandwidth.windowMs) / 1000
            var bytes = 0
            for (index, count) in host.sent[overlay].enumerated() {
                let t = bandwidth.start + Double(index) * window
                if t >= member.joined, t < member.joined + seconds { bytes = bytes.saturatingAdd(count) }
            }
            return Double(bytes) / seconds
        }
        guard !rates.isEmpty else { return }
        capturedBytesPerSecondPerPeer = rates.reduce(0, +) / Double(rates.count)
        capturedBytesPerSecondMaxPeer = rates.max()
    }
}
