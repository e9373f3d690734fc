import Foundation
import GameWire
import RTP

/// The figures of one capture: what crossed the network, and per receiver and RTP stream how
/// it arrived (`capture` and `streams[]` of report.json).
public struct CaptureReport: Sendable, Equatable, Codable {
    public var capture: CaptureFigures
    public var streams: [StreamFigures]
    public var bandwidth: BandwidthFigures
    /// Per-packet samples for charts, in `streams` order; not part of report.json.
    public var details: [StreamDetail] = []
    /// Traffic between hosts, for migration overhead; not part of report.json.
    public var hostTraffic: [HostPacket] = []
    /// Game ticks per receiver, and their arrivals (for handoff windows).
    public var games: [GameTickFigures] = []
    public var gameDetails: [StreamDetail] = []

    enum CodingKeys: String, CodingKey { case capture, streams, bandwidth }
}

/// What the charts and handoff windows of one stream need: every arrival (up to 250,000) and
/// the gap distribution.
public struct StreamDetail: Sendable, Equatable {
    /// One packet's arrival: Unix microseconds, sequence number counted from the stream's
    /// first, and whether it was a duplicate or arrived after a higher sequence number.
    public struct Arrival: Sendable, Equatable {
        public var microseconds: Int64
        public var sequence: Int
        public var duplicate: Bool
        public var reordered: Bool
        /// The marker bit: the first packet of a talk spurt, after the speaker's silence.
        public var startsTalkSpurt: Bool = false
        /// The speaker's silence before this packet (media time no packet was sent for): not
        /// part of the gap before it.
        public var silenceMicroseconds: Int64 = 0
        public var t: Double { Double(microseconds) / 1e6 }
    }

    public var arrivals: [Arrival]
    /// New-packet inter-arrival gaps in 1 ms bins; the last bin is 100 ms and more.
    public var gapHistogram: [Int]
    /// The sequence number `sequence` counts from: RTP's extended one, or the first tick.
    public var origin: Int64 = 0
    /// The RTP stream's SSRC (nil for game ticks): arrivals of one SSRC at every receiver
    /// tell when its sender put each packet on the wire.
    public var ssrc: UInt32?
    /// The missing sequences (counted as `sequence` is) that the network dropped, known when
    /// the run has a drops capture (`NetworkDrops`); the other holes are the service's.
    public var lostByNetwork: Set<Int> = []

    /// The time between packets of consecutive sequence numbers, as most arrive (the median,
    /// speakers' silences left out): a frame, or a tick. 0 when no two are consecutive.
    public var framePeriodMicroseconds: Int64 {
        let fresh = arrivals.filter { !$0.duplicate }
        var steps = zip(fresh, fresh.dropFirst()).compactMap { a, b -> Int64? in
            b.sequence == a.sequence + 1 && b.silenceMicroseconds == 0 ? b.microseconds - a.microseconds : nil
        }
        guard !steps.isEmpty else { return 0 }
        steps.sort()
        return steps[steps.count / 2]
    }

    /// The sequences missing between the first and the last arrival.
    public var holes: [Int] {
        let seen = Set(arrivals.lazy.filter { !$0.duplicate }.map(\.sequence))
        guard let low = seen.min(), let high = seen.max(), high > low else { return [] }
        return (low...high).filter { !seen.contains($0) }
    }
}

/// The capture as a whole.
public struct CaptureFigures: Sendable, Equatable, Codable {
    public var linkType: String
    /// Records in the file (before a corrupt or truncated one, if any).
    public var packets: Int
    public var bytes: Int
    public var start: Double?
    public var end: Double?
    public var udpPackets: Int
    public var tcpPackets: Int
    public var rtpPackets: Int
    /// UDP datagrams that are not part of an RTP stream: counted, not misread.
    public var nonRtpUdpPackets: Int
    /// Of those, game ticks (`GameTick`), and datagrams that start like one but do not read.
    public var gamePackets: Int = 0
    public var malformedGamePackets: Int = 0
    /// Of those, RTCP on an RTP port (RFC 5761: a second byte of 192-223).
    public var rtcpPackets: Int = 0
    /// Of those, datagrams that looked like RTP but never formed a plausible stream (DNS
    /// queries, random bytes): too few packets with advancing sequence numbers on their key.
    public var setAsidePackets: Int = 0
    /// Traffic recognised but not measured, such as RTP over TCP.
    public var skipped: [SkippedTraffic] = []
    /// Frames that are not UDP or TCP over IP (ARP, ICMP, later fragments).
    public var otherPackets: Int
    /// Frames whose headers are cut short or inconsistent: dropped and counted.
    public var malformedPackets: Int
    /// True when the file ends in a truncated or corrupt record; `error` says where.
    public var partial: Bool
    public var error: String?
    /// Packets libpcap dropped in the kernel's buffer and at the interface while a run
    /// captured (absent for a bare pcap file).
    public var kernelDrops: Int?
    public var interfaceDrops: Int?
    /// Packets the emulated links delivered to nobody (netns mode, `drops.pcap`), and why that
    /// file could not be read whole, if it could not.
    public var networkDrops: Int?
    public var networkDropsError: String?
}

/// One RTP stream as one receiver got it (`streams[]`).
public struct StreamFigures: Sendable, Equatable, Codable {
    /// `0x1a2b3c4d`.
    public var ssrc: String
    /// The receiving socket, `ip:port`.
    public var receiver: String
    /// The receiving peer, when the capture belongs to a run.
    public var receiverName: String?
    /// The speaker's WAV, relative to the repository root, when known.
    public var sourceAudio: String?
    /// Every address the stream came from, in order of first appearance (more than one when
    /// the relay moved).
    public var senders: [String]
    public var payloadType: Int
    /// Timestamp units per second, and where that rate came from.
    public var clockRate: Int
    public var clockRateSource: ClockRateSource
    /// The codec, when the payload type is static or the capture's SDP named it.
    public var encoding: String?
    /// Distinct sequence numbers received.
    public var packets: Int
    /// Sequence numbers between the first and last received that never arrived.
    public var lost: Int
    /// Of them, those the emulated network dropped (nil without a drops capture): the rest
    /// the service lost.
    public var lostByNetwork: Int?
    /// Copies of packets already received (never netted against losses).
    public var duplicates: Int
    /// Packets that arrived after one with a higher sequence number (RFC 4737).
    public var reordered: Int
    /// Largest time between two arrivals of new packets.
    public var maxGapMs: Double
    /// Interarrival jitter (RFC 3550) in milliseconds.
    public var jitterMs: Double
    public var start: Double
    public var end: Double
}

/// Why a capture cannot be analysed at all.
public enum CaptureError: Error, Equatable, CustomStringConvertible {
    case pcap(PcapError)
    /// The file's link type is not one the reader understands.
    case unknownLinkType(UInt32)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .pcap(let error): "\(error)"
        case .unknownLinkType(let value):
            "unknown link type \(value); understood: "
                + LinkType.allCases.map { "\($0.rawValue) (\($0.name))" }.joined(separator: ", ")
        case .unreadable(let path, let reason): "\(path): \(reason)"
        }
    }
}

/// Reads a capture (pcap or pcapng) and measures it: every RTP stream per receiver, bandwidth,
/// and the overlay traffic handoff windows need.
public enum CaptureAnalysis {
    /// The clock rates (Hz) a stream may be taken to run at: `--clock-rate` and SDPs outside
    /// them are refused.
    public static let acceptedClockRates = 1...100_000_000

    /// Analyses a pcap file's bytes. `dynamicClockRate` is the rate of a stream whose payload
    /// type is dynamic when neither an SDP in the capture nor its timestamps tell (held within
    /// `CaptureAnalysis.acceptedClockRates`). `bindings`: when a run bound its shells' data
    /// sockets, so a port one shell closed and a later one was given is two receivers.
    public static func analyse(
        _ bytes: UnsafeRawBufferPointer, dynamicClockRate: Int = 16000, overlayPort: UInt16 = 7000,
        bindings: SocketBindings = SocketBindings()
    ) throws(CaptureError) -> CaptureReport {
        let flagRate = min(
            max(dynamicClockRate, CaptureAnalysis.acceptedClockRates.lowerBound),
            CaptureAnalysis.acceptedClockRates.upperBound)
        let format: PcapFormat
        do throws(PcapError) { format = try PcapReader.format(of: bytes) } catch { throw .pcap(error) }
        guard let linkType = LinkType(rawValue: format.linkType) else { throw .unknownLinkType(format.linkType) }
        var reading = CaptureReading(
            linkType: linkType, format: format, flagRate: flagRate, overlayPort: overlayPort,
            captureBytes: bytes.count, bindings: bindings)
        let stoppedBy: PcapError?
        do throws(PcapError) {
            stoppedBy = try PcapReader.read(bytes, into: &reading).stoppedBy
        } catch {
            throw .pcap(error)
        }
        var figures = reading.figures
        figures.linkType = linkType.name
        figures.start = figures.packets > 0 ? Double(reading.earliest) / 1e6 : nil
        figures.end = figures.packets > 0 ? Double(reading.latest) / 1e6 : nil
        if let stopped = stoppedBy {
            figures.partial = true
            figures.error = stopped.description
        }
        var reported: [(StreamFigures, StreamDetail)] = []
        for tracker in reading.rtp.finish(bandwidth: &reading.bandwidth) {
            let received = tracker.distinct + tracker.duplicates
            figures.rtpPackets += received
            let detail = StreamDetail(
                arrivals: tracker.samples, gapHistogram: tracker.gapHistogram, origin: tracker.origin,
                ssrc: tracker.ssrc)
            let clock = tracker.clock ?? ClockRate(hertz: flagRate, source: .flag)
            reported.append(
                (
                    StreamFigures(
                        ssrc: RTPPacket.ssrcText(tracker.ssrc), receiver: tracker.receiver.description,
                        senders: tracker.senders.map(\.description), payloadType: Int(tracker.payloadType),
                        clockRate: clock.hertz, clockRateSource: clock.source, encoding: clock.encoding,
                        packets: tracker.distinct, lost: tracker.lost, duplicates: tracker.duplicates,
                        reordered: tracker.reordered, maxGapMs: Double(tracker.maxGapMicroseconds) / 1000,
                        jitterMs: tracker.jitter / Double(clock.hertz) * 1000,
                        start: Double(tracker.firstArrival) / 1e6, end: Double(tracker.lastArrival) / 1e6), detail
                ))
        }
        figures.setAsidePackets = reading.rtp.setAside
        figures.nonRtpUdpPackets = figures.udpPackets - figures.rtpPackets
        figures.skipped = reading.framed.skipped
        reported.sort { ($0.0.receiver, $0.0.ssrc) < ($1.0.receiver, $1.0.ssrc) }
        let ticks = reading.games.finish()
        figures.malformedGamePackets = reading.games.malformed
        figures.gamePackets -= reading.games.malformed
        return CaptureReport(
            capture: figures, streams: reported.map(\.0), bandwidth: reading.bandwidth.figures(),
            details: reported.map(\.1),
            hostTraffic: reading.hostPackets, games: ticks.map(\.0), gameDetails: ticks.map(\.1))
    }

    /// Reads and analyses a pcap file.
    public static func analyse(
        file path: String, dynamicClockRate: Int = 16000, bindings: SocketBindings = SocketBindings()
    ) throws(CaptureError) -> CaptureReport {
        try readMapped(path) { bytes throws(CaptureError) in
            try analyse(bytes, dynamicClockRate: dynamicClockRate, bindings: bindings)
        }
    }

    /// Maps the file at `path` into memory and reads its bytes with `read`. The pages are
    /// populated at once (MAP_POPULATE): a capture is read from its first byte to its last, and
    /// one populating pass costs a fraction of taking a page fault for every 64 kB of it.
    static func readMapped<Value>(
        _ path: String, _ read: (UnsafeRawBufferPointer) throws(CaptureError) -> Value
    ) throws(CaptureError) -> Value {
        func failure(_ call: String) -> CaptureError {
            .unreadable(path: path, reason: "\(call): \(String(cString: strerror(errno)))")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure("fstat") }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw .unreadable(path: path, reason: "not a regular file")
        }
        let length = Int(status.st_size)
        guard length > 0 else { return try read(UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE | MAP_POPULATE, descriptor, 0),
            mapped != MAP_FAILED
        else { throw failure("mmap") }
        defer { munmap(mapped, length) }
        return try read(UnsafeRawBufferPointer(start: mapped, count: length))
    }
}

/// The state of one capture's analysis while its records are read, and what each record does
/// to it.
private struct CaptureReading: PcapRecordVisitor {
    let linkType: LinkType
    let format: PcapFormat
    let overlayPort: UInt16
    var figures = CaptureFigures(
        linkType: "", packets: 0, bytes: 0, udpPackets: 0, tcpPackets: 0, rtpPackets: 0, nonRtpUdpPackets: 0,
        otherPackets: 0, malformedPackets: 0, partial: false)
    var rtp: RTPStreams
    var framed = FramedRTPFlows()
    var games = GameTickStreams()
    var bandwidth = BandwidthMeter()
    var hostPackets: [HostPacket] = []
    var earliest = Int64.max
    var latest = Int64.min

    init(
        linkType: LinkType, format: PcapFormat, flagRate: Int, overlayPort: UInt16, captureBytes: Int,
        bindings: SocketBindings
    ) {
        self.linkType = linkType
        self.format = format
        self.overlayPort = overlayPort
        rtp = RTPStreams(flagRate: flagRate, overlayPort: overlayPort, captureBytes: captureBytes, bindings: bindings)
    }

    mutating func visit(_ record: PcapRecord) {
        figures.packets += 1
        figures.bytes = figures.bytes.saturatingAdd(record.originalLength)
        earliest = min(earliest, record.microseconds)
        latest = max(latest, record.microseconds)
        // pcapng interfaces may differ in link type; classic pcap has one.
        let recordLink = record.linkType == format.linkType ? linkType : LinkType(rawValue: record.linkType)
        guard let recordLink else {
            figures.otherPackets += 1
            return
        }
        let truncated = record.originalLength > record.data.count
        switch PacketDecoder.decode(record.data, linkType: recordLink, truncated: truncated) {
        case .malformed: figures.malformedPackets += 1
        case .other: figures.otherPackets += 1
        case .segment(let segment):
            switch segment.transport {
            case .tcp:
                figures.tcpPackets += 1
                count(segment, record)
                rtp.sessions.read(sipMessage: segment.payload)
                framed.add(segment, at: record.microseconds)
            case .udp:
                figures.udpPackets += 1
                if games.add(segment.payload, from: segment.source, to: segment.destination, at: record.microseconds) {
                    figures.gamePackets += 1
                    count(segment, record)
                } else if RTPStreams.isRTCP(segment.payload) {
                    figures.rtcpPackets += 1
                    count(segment, record)
                } else if let header = try? RTPHeader(bytes: segment.payload, lenient: true) {
                    rtp.add(
                        header, segment: segment, at: record.microseconds, bytes: record.originalLength,
                        bandwidth: &bandwidth)
                } else {
                    // Neither media nor a tick: a datagram between hosts (late data a
                    // migration's source forwards) or something else.
                    count(segment, record, betweenHosts: true)
                    rtp.sessions.read(sipMessage: segment.payload)
                }
            }
        }
    }

    /// A segment's bandwidth, as the overlay's traffic or other; with `betweenHosts` (and
    /// always for the overlay's) also kept for the migration overhead of handoff windows.
    private mutating func count(_ segment: Segment, _ record: PcapRecord, betweenHosts: Bool = false) {
        let overlay = segment.source.port == overlayPort || segment.destination.port == overlayPort
        bandwidth.add(
            bytes: record.originalLength, from: segment.source, to: segment.destination,
            class: overlay ? .overlay : .other, at: record.microseconds)
        if overlay || betweenHosts {
            hostPackets.append(
                HostPacket(
                    t: Double(record.microseconds) / 1e6, source: segment.source.host,
                    destination: segment.destination.host, bytes: record.originalLength))
        }
    }
}
