/// Bytes per host and traffic class in fixed windows (`bandwidth` in report.json): what each
/// peer sent and received over time, voice apart from overlay maintenance.
public struct BandwidthFigures: Sendable, Equatable, Codable {
    /// Window length; 100 ms unless the capture is so long (or holds so many hosts) that the
    /// series would exceed `BandwidthMeter.maximumWindows` points each, or in all
    /// `BandwidthMeter.maximumPoints` or 16 for every (host, class, window) with traffic; then a
    /// multiple of it.
    public var windowMs: Int
    /// Unix seconds where window 0 begins (the earliest packet of the capture).
    public var start: Double
    /// The traffic classes, in the order of each host's series.
    public var classes: [String]
    public var hosts: [Host]

    /// One address's traffic.
    public struct Host: Sendable, Equatable, Codable {
        public var address: String
        /// The peer holding this address, when the capture belongs to a run.
        public var name: String?
        public var sentBytes: Int
        public var receivedBytes: Int
        /// Bytes per window, one series per class (in `classes` order); a class with no
        /// packet at all has an empty series.
        public var sent: [[Int]]
        public var received: [[Int]]
    }
}

/// What a packet is, for bandwidth: voice data, the overlay's own traffic, or anything else.
enum TrafficClass: Int, CaseIterable {
    case voice, overlay, other

    var name: String {
        switch self {
        case .voice: "voice"
        case .overlay: "overlay"
        case .other: "other"
        }
    }
}

/// Accumulates bandwidth while a capture is read, packet by packet. Each host and class keeps
/// a run of (window, bytes) entries, one per window it had traffic in, so memory follows the
/// packets: a capture whose clock jumps by years costs no more than one without the jump.
struct BandwidthMeter {
    static let windowMicroseconds: Int64 = 100_000
    static let maximumWindows = 5000
    /// The most points all series together may hold in the report, and how many points each
    /// (window, bytes) entry recorded may cost: a few hundred packets among thousands of hosts
    /// must not become millions of zeros.
    static let maximumPoints = 2_000_000
    static let pointsPerEntry = 16

    /// One window's bytes; windows count from the first packet and may be negative (a packet
    /// stamped earlier than the first).
    private struct Entry {
        var window: Int64
        var bytes: Int
    }

    private var origin: Int64?
    private var index: [Endpoint: Int] = [:]
    private var addresses: [Endpoint] = []
    /// Per (host, class, direction) series, at `slot(host, class, direction)`: the window a
    /// packet last fell in and its bytes so far, in one flat array the per-packet path updates
    /// in place; a window's entry moves to `closed` only when the series' next packet falls in
    /// another.
    private var open: [Entry] = []
    private var closed: [[Entry]] = []
    /// Bytes per (host, direction), at `host * 2 + direction`.
    private var totals: [Int] = []
    /// A series that has had no packet yet.
    private static let none = Entry(window: .min, bytes: 0)
    private static let sent = 0
    private static let received = 1

    mutating func add(
        bytes: Int, from source: Endpoint, to destination: Endpoint, class traffic: TrafficClass, at microseconds: Int64
    ) {
        add(bytes: bytes, from: host(source), to: host(destination), class: traffic, at: microseconds)
    }

    /// The same, with hosts already resolved by `host(_:)` (the fast path for RTP streams,
    /// whose trackers remember their hosts).
    mutating func add(bytes: Int, from: Int, to: Int, class traffic: TrafficClass, at microseconds: Int64) {
        if origin == nil { origin = microseconds }
        let offset = microseconds - origin!
        let window =
            offset >= 0 ? offset / Self.windowMicroseconds : -((-offset - 1) / Self.windowMicroseconds) - 1
        add(bytes, to: Self.slot(from, traffic, Self.sent), window: window)
        add(bytes, to: Self.slot(to, traffic, Self.received), window: window)
        totals[from * 2 + Self.sent] = totals[from * 2 + Self.sent].saturatingAdd(bytes)
        totals[to * 2 + Self.received] = totals[to * 2 + Self.received].saturatingAdd(bytes)
    }

    private mutating func add(_ bytes: Int, to slot: Int, window: Int64) {
        if open[slot].window == window {
            open[slot].bytes = open[slot].bytes.saturatingAdd(bytes)
        } else {
            // Close the series' open window and open this one.
            if open[slot].window != Self.none.window { closed[slot].append(open[slot]) }
            open[slot] = Entry(window: window, bytes: bytes)
        }
    }

    private static func slot(_ host: Int, _ traffic: TrafficClass, _ direction: Int) -> Int {
        (host * TrafficClass.allCases.count + traffic.rawValue) * 2 + direction
    }

    /// The index of an endpoint's host (its address, any port).
    mutating func host(_ endpoint: Endpoint) -> Int {
        var address = endpoint
        address.port = 0
        if let known = index[address] { return known }
        index[address] = addresses.count
        addresses.append(address)
        open += repeatElement(Self.none, count: 2 * TrafficClass.allCases.count)
        closed += repeatElement([], count: 2 * TrafficClass.allCases.count)
        totals += [0, 0]
        return addresses.count - 1
    }

    /// Every entry of a series, the open one last.
    private func recorded(_ slot: Int) -> [Entry] {
        open[slot].window == Self.none.window ? closed[slot] : closed[slot] + [open[slot]]
    }

    func figures() -> BandwidthFigures {
        let sent = addresses.indices.map { host in
            TrafficClass.allCases.map { recorded(Self.slot(host, $0, Self.sent)) }
        }
        let received = addresses.indices.map { host in
            TrafficClass.allCases.map { recorded(Self.slot(host, $0, Self.received)) }
        }
        let all = (sent + received).joined()
        let first = all.lazy.compactMap { $0.map(\.window).min() }.min() ?? 0
        let last = all.lazy.compactMap { $0.map(\.window).max() }.max() ?? 0
        let windows = last - first + 1
        let series = all.filter { !$0.isEmpty }.count
        let entries = all.reduce(0) { $0 + $1.count }
        // Merge windows so no series exceeds maximumWindows points and all of them together
        // stay under maximumPoints and pointsPerEntry for each entry.
        let budget = min(Self.maximumPoints, max(Self.maximumWindows, Self.pointsPerEntry * entries))
        let perSeries = max(1, min(Int64(Self.maximumWindows), Int64(budget / max(1, series))))
        let factor = max(1, (windows + perSeries - 1) / perSeries)
        let count = Int((windows + factor - 1) / factor)
        func merged(_ entries: [Entry]) -> [Int] {
            guard !entries.isEmpty else { return [] }  // no packet of this class: an empty series
            var points = [Int](repeating: 0, count: count)
            for entry in entries {
                let slot = Int((entry.window - first) / factor)
                points[slot] = points[slot].saturatingAdd(entry.bytes)
            }
            return points
        }
        let hosts = addresses.indices.map { host in
            BandwidthFigures.Host(
                address: addresses[host].host, sentBytes: totals[host * 2 + Self.sent],
                receivedBytes: totals[host * 2 + Self.received],
                sent: sent[host].map(merged), received: received[host].map(merged))
        }.sorted { $0.address < $1.address }
        let (windowMicroseconds, overflow) = Self.windowMicroseconds.multipliedReportingOverflow(by: factor)
        let start = (origin ?? 0) + first * Self.windowMicroseconds
        return BandwidthFigures(
            windowMs: overflow ? .max : Int(windowMicroseconds / 1000), start: Double(start) / 1e6,
            classes: TrafficClass.allCases.map(\.name), hosts: hosts)
    }
}
