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
    /// Per (host, class) series, at `series(host, class)`: the window a packet last fell in
    /// and its bytes so far, in one flat array the per-packet path updates in place; a
    /// window's entry moves to `closed` only when the series' next packet falls in another.
    private var sentOpen: [Entry] = []
    private var receivedOpen: [Entry] = []
    private var sentClosed: [[Entry]] = []
    private var receivedClosed: [[Entry]] = []
    private var sentTotal: [Int] = []
    private var receivedTotal: [Int] = []
    /// A series that has had no packet yet.
    private static let none = Entry(window: .min, bytes: 0)

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
        let sentSeries = Self.series(from, traffic)
        let receivedSeries = Self.series(to, traffic)
        if sentOpen[sentSeries].window == window {
            sentOpen[sentSeries].bytes = sentOpen[sentSeries].bytes.saturatingAdd(bytes)
        } else {
            Self.open(&sentOpen, &sentClosed, sentSeries, window: window, bytes: bytes)
        }
        if receivedOpen[receivedSeries].window == window {
            receivedOpen[receivedSeries].bytes = receivedOpen[receivedSeries].bytes.saturatingAdd(bytes)
        } else {
            Self.open(&receivedOpen, &receivedClosed, receivedSeries, window: window, bytes: bytes)
        }
        sentTotal[from] = sentTotal[from].saturatingAdd(bytes)
        receivedTotal[to] = receivedTotal[to].saturatingAdd(bytes)
    }

    private static func series(_ host: Int, _ traffic: TrafficClass) -> Int {
        host * TrafficClass.allCases.count + traffic.rawValue
    }

    /// Closes a series' open window and opens `window` with `bytes`.
    private static func open(_ open: inout [Entry], _ closed: inout [[Entry]], _ series: Int, window: Int64, bytes: Int)
    {
        if open[series].window != Self.none.window { closed[series].append(open[series]) }
        open[series] = Entry(window: window, bytes: bytes)
    }

    /// The index of an endpoint's host (its address, any port).
    mutating func host(_ endpoint: Endpoint) -> Int {
        var address = endpoint
        address.port = 0
        if let known = index[address] { return known }
        index[address] = addresses.count
        addresses.append(address)
        for _ in TrafficClass.allCases {
            sentOpen.append(Self.none)
            receivedOpen.append(Self.none)
            sentClosed.append([])
            receivedClosed.append([])
        }
        sentTotal.append(0)
        receivedTotal.append(0)
        return addresses.count - 1
    }

    /// Every entry of a series, the open one last.
    private static func entries(_ closed: [[Entry]], _ open: [Entry], _ series: Int) -> [Entry] {
        open[series].window == none.window ? closed[series] : closed[series] + [open[series]]
    }

    func figures() -> BandwidthFigures {
        let classes = TrafficClass.allCases.count
        let sent = addresses.indices.map { host in
            (0..<classes).map { Self.entries(sentClosed, sentOpen, host * classes + $0) }
        }
        let received = addresses.indices.map { host in
            (0..<classes).map { Self.entries(receivedClosed, receivedOpen, host * classes + $0) }
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
                address: addresses[host].host, sentBytes: sentTotal[host], receivedBytes: receivedTotal[host],
                sent: sent[host].map(merged), received: received[host].map(merged))
        }.sorted { $0.address < $1.address }
        let (windowMicroseconds, overflow) = Self.windowMicroseconds.multipliedReportingOverflow(by: factor)
        let start = (origin ?? 0) + first * Self.windowMicroseconds
        return BandwidthFigures(
            windowMs: overflow ? .max : Int(windowMicroseconds / 1000), start: Double(start) / 1e6,
            classes: TrafficClass.allCases.map(\.name), hosts: hosts)
    }
}
