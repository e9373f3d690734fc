/// Bytes per host and traffic class in fixed windows (`bandwidth` in report.json): what each
/// peer sent and received over time, voice apart from overlay maintenance.
public struct BandwidthFigures: Sendable, Equatable, Codable {
    /// Window length; 100 ms unless the capture is so long that the series would exceed
    /// `BandwidthMeter.maximumWindows` points, then a multiple of it.
    public var windowMs: Int
    /// Unix seconds where window 0 begins (the first packet of the capture).
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

/// Accumulates bandwidth while a capture is read, packet by packet.
struct BandwidthMeter {
    static let windowMicroseconds: Int64 = 100_000
    static let maximumWindows = 5000

    private var start: Int64?
    private var index: [Endpoint: Int] = [:]
    private var addresses: [Endpoint] = []
    private var sent: [[[Int]]] = []  // host, class, window
    private var received: [[[Int]]] = []
    private var windows = 0

    mutating func add(
        bytes: Int, from source: Endpoint, to destination: Endpoint, class traffic: TrafficClass, at microseconds: Int64
    ) {
        add(bytes: bytes, from: host(source), to: host(destination), class: traffic, at: microseconds)
    }

    /// The same, with hosts already resolved by `host(_:)` (the fast path for RTP streams,
    /// whose trackers remember their hosts).
    mutating func add(bytes: Int, from: Int, to: Int, class traffic: TrafficClass, at microseconds: Int64) {
        if start == nil { start = microseconds }
        let window = Int(max(0, microseconds - start!) / Self.windowMicroseconds)
        if window >= windows { windows = window + 1 }
        grow(&sent[from][traffic.rawValue], to: window)
        sent[from][traffic.rawValue][window] += bytes
        grow(&received[to][traffic.rawValue], to: window)
        received[to][traffic.rawValue][window] += bytes
    }

    /// The index of an endpoint's host (its address, any port).
    mutating func host(_ endpoint: Endpoint) -> Int {
        var address = endpoint
        address.port = 0
        if let known = index[address] { return known }
        index[address] = addresses.count
        addresses.append(address)
        let empty = [[Int]](repeating: [], count: TrafficClass.allCases.count)
        sent.append(empty)
        received.append(empty)
        return addresses.count - 1
    }

    private func grow(_ series: inout [Int], to window: Int) {
        if window >= series.count {
            series.append(contentsOf: repeatElement(0, count: window - series.count + 1 + series.count / 2))
        }
    }

    func figures() -> BandwidthFigures {
        let factor = max(1, (windows + Self.maximumWindows - 1) / Self.maximumWindows)
        let count = (windows + factor - 1) / factor
        func series(_ raw: [Int]) -> [Int] {
            guard !raw.isEmpty else { return [] }  // no packet of this class: an empty series
            var merged = [Int](repeating: 0, count: count)
            for (window, bytes) in raw.enumerated() where bytes > 0 { merged[window / factor] += bytes }
            return merged
        }
        let hosts = addresses.indices.map { host in
            BandwidthFigures.Host(
                address: addresses[host].host,
                sentBytes: sent[host].joined().reduce(0, +), receivedBytes: received[host].joined().reduce(0, +),
                sent: sent[host].map(series), received: received[host].map(series))
        }.sorted { $0.address < $1.address }
        return BandwidthFigures(
            windowMs: Int(Self.windowMicroseconds / 1000) * factor, start: Double(start ?? 0) / 1e6,
            classes: TrafficClass.allCases.map(\.name), hosts: hosts)
    }
}
