import RTP

/// What one receiver got of one RTP stream (SSRC), measured in arrival order. A stream is
/// keyed by SSRC and receiving address, not by sender, so when the relay moves the receiver
/// still hears one stream, and the gap across the move is measured.
struct RTPStreamTracker {
    let ssrc: UInt32
    let receiver: Endpoint
    let payloadType: UInt8
    /// Timestamp units per second (the payload's sampling rate).
    let clockRate: Double

    private var extender = SequenceExtender()
    /// Bitmap of extended sequence numbers seen, from `base`.
    private var base: Int64 = 0
    private var seen: [UInt64] = []
    private(set) var lowest = Int64.max
    private(set) var highest = Int64.min
    private(set) var distinct = 0
    private(set) var duplicates = 0
    /// RFC 4737: a packet is reordered if it arrives after one with a higher sequence number.
    private(set) var reordered = 0
    private(set) var firstArrival: Int64 = 0
    private(set) var lastArrival: Int64 = 0
    private(set) var maxGapMicroseconds: Int64 = 0
    /// Interarrival jitter (RFC 3550 section 6.4.1) in timestamp units.
    private(set) var jitter = 0.0
    private var lastTransit: Double?
    private var firstTimestamp: UInt32 = 0
    /// The newest packet so far (highest sequence number) and its timestamp, and the fewest
    /// timestamp units a sequence number has advanced (one frame).
    private var newestTimestamp: UInt32 = 0
    private var frameTicks: Int64?
    private(set) var senders: [Endpoint] = []
    /// Every arrival (of the first `sampleLimit`), for charts and handoff windows.
    private(set) var samples: [Arrival] = []
    static let sampleLimit = 250_000

    /// One packet's arrival: when, which sequence number, and how it counted.
    struct Arrival {
        var microseconds: Int64
        var sequence: Int64
        var duplicate: Bool
        var reordered: Bool
        /// The marker bit: the first packet after a silence (RFC 3551, 4.1).
        var startsTalkSpurt: Bool
        /// The speaker's silence before this packet: media time since the newest packet that
        /// no sequence number accounts for (nothing was sent for it).
        var silenceMicroseconds: Int64 = 0
    }
    /// Inter-arrival gaps of new packets in 1 ms bins; the last bin holds 100 ms and more.
    private(set) var gapHistogram = [Int](repeating: 0, count: 101)

    /// The bandwidth meter's host indices of the receiver and of the latest sender.
    let receiverHost: Int
    var senderHost: (endpoint: Endpoint, host: Int)?

    init(ssrc: UInt32, receiver: Endpoint, receiverHost: Int, payloadType: UInt8, clockRate: Double) {
        self.ssrc = ssrc
        self.receiver = receiver
        self.receiverHost = receiverHost
        self.payloadType = payloadType
        self.clockRate = clockRate
    }

    mutating func add(_ header: RTPHeader, from sender: Endpoint, at microseconds: Int64) {
        if senders.last != sender, !senders.contains(sender) { senders.append(sender) }
        let sequence = extender.extend(header.sequenceNumber)
        if distinct == 0 && duplicates == 0 {
            base = sequence - 0x10000
            firstArrival = microseconds
            lastArrival = microseconds
            firstTimestamp = header.timestamp
        }
        let index = Int(sequence - base)
        let word = index >> 6
        let bit = UInt64(1) << UInt64(index & 63)
        if word >= seen.count {
            seen.append(contentsOf: repeatElement(0, count: word - seen.count + 1 + seen.count / 2))
        }
        if index >= 0, seen[word] & bit != 0 {
            duplicates += 1
            record(
                Arrival(
                    microseconds: microseconds, sequence: sequence, duplicate: true, reordered: false,
                    startsTalkSpurt: header.marker))
            return
        }
        if index >= 0 { seen[word] |= bit }
        let late = sequence < highest
        if late { reordered += 1 }
        // The silence before a talk spurt is the speaker's, not a gap: the media time since the
        // newest packet beyond what the sequence numbers in between account for.
        var silence: Int64 = 0
        if distinct > 0, sequence > highest {
            let steps = sequence - highest
            let ticks = Int64(Int32(bitPattern: header.timestamp &- newestTimestamp))
            if ticks > 0 {
                if ticks % steps == 0 { frameTicks = min(frameTicks ?? ticks / steps, ticks / steps) }
                // At least a whole frame unaccounted for: timestamps that wobble by a few units
                // (a sender deriving them from its clock) are not silence.
                if let frameTicks, ticks >= (steps + 1) * frameTicks {
                    silence = Int64(Double(ticks - steps * frameTicks) / clockRate * 1_000_000)
                }
            }
        }
        record(
            Arrival(
                microseconds: microseconds, sequence: sequence, duplicate: false, reordered: late,
                startsTalkSpurt: header.marker, silenceMicroseconds: silence))
        if distinct == 0 || sequence > highest { newestTimestamp = header.timestamp }
        distinct += 1
        lowest = min(lowest, sequence)
        highest = max(highest, sequence)

        if distinct > 1 {
            let gap = max(0, microseconds - lastArrival - silence)
            gapHistogram[min(100, Int(gap / 1000))] += 1
            maxGapMicroseconds = max(maxGapMicroseconds, gap)
        }
        lastArrival = microseconds

        let arrival = Double(microseconds - firstArrival) * clockRate / 1_000_000
        let sent = Double(Int32(bitPattern: header.timestamp &- firstTimestamp))
        let transit = arrival - sent
        if let lastTransit { jitter += (abs(transit - lastTransit) - jitter) / 16 }
        lastTransit = transit
    }

    private mutating func record(_ arrival: Arrival) {
        if samples.count < Self.sampleLimit { samples.append(arrival) }
    }

    /// Sequence numbers between the lowest and highest received that never arrived.
    var lost: Int { distinct == 0 ? 0 : Int(highest - lowest + 1) - distinct }
}

/// The sampling rate of an RTP payload type: the static ones of RFC 3551, and for dynamic
/// types (96-127) the rate the caller gives (Seamless' voice default: 16 kHz wideband Speex).
func clockRate(payloadType: UInt8, dynamic: Int) -> Double {
    switch payloadType {
    case 0...8, 9, 12, 13, 15, 18: 8000
    case 10, 11: 44100
    case 14, 25, 26, 28, 31, 32, 33, 34: 90000
    case 16: 11025
    case 17: 22050
    default: Double(dynamic)
    }
}
