import RTP

/// What one receiver got of one RTP stream (SSRC), measured in arrival order. A stream is
/// keyed by SSRC and receiving address, not by sender, so when the relay moves the receiver
/// still hears one stream, and the gap across the move is measured.
///
/// Until the stream's clock rate is known (a static payload type, an SDP of the capture, or
/// 2 s of timestamps against arrivals) its packets wait in `pending`; then every figure is
/// computed with the rate the stream really runs at. Memory follows the packets received:
/// nothing is sized by sequence numbers, timestamps or time spans.
struct RTPStreamTracker {
    let ssrc: UInt32
    let receiver: Endpoint
    /// The payload type of the stream's first packet.
    let payloadType: UInt8
    /// Resolved once, before the first packet is measured; `rate` is its Hertz, kept apart
    /// for the per-packet path.
    private(set) var clock: ClockRate?
    /// `clock != nil`, kept apart: the per-packet test copies no codec name.
    private var isResolved = false
    private var rate = 1.0
    private var pending: [RTPObservation] = []
    /// How the stream's own payload type tells a packet's duration (nil: it does not).
    private var durationRule: PayloadDuration.Rule?
    /// The SDP generation the stream last looked for its payload type in.
    private var sessionsSeen = -1

    private var extender = SequenceExtender()
    private var received = SequenceBitmap()
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
    private var previous: (microseconds: Int64, timestamp: UInt32)?
    /// The newest packet (highest sequence number): its timestamp and payload duration.
    private var newest: (timestamp: UInt32, duration: Int64) = (0, 0)
    private var frames = FrameEstimator()
    private(set) var senders: [Endpoint] = []
    /// Every arrival (of the first `sampleLimit`), for charts and handoff windows, its sequence
    /// counted from the first one's (`origin`): recorded in the form the report keeps, so the
    /// largest array of a capture's analysis is never copied.
    private(set) var samples: [StreamDetail.Arrival] = []
    /// The extended sequence number of the first arrival.
    private(set) var origin: Int64 = 0
    static let sampleLimit = 250_000
    /// Packets waiting for the clock rate before an estimate is made anyway.
    static let pendingLimit = 16_384

    /// Inter-arrival gaps of new packets in 1 ms bins up to the largest seen; the bin at
    /// index 100 holds 100 ms and more.
    private(set) var gapHistogram: [Int] = []

    /// The bandwidth meter's host indices of the receiver and of the latest sender.
    let receiverHost: Int
    var senderHost: (endpoint: Endpoint, host: Int)?

    init(ssrc: UInt32, receiver: Endpoint, receiverHost: Int, payloadType: UInt8) {
        self.ssrc = ssrc
        self.receiver = receiver
        self.receiverHost = receiverHost
        self.payloadType = payloadType
        if let fixed = ClockRate.fixed(payloadType: payloadType) { resolve(fixed) }
    }

    /// How many arrivals the stream is expected to have (at most `sampleLimit`): room for
    /// them is made once it has `reservingAfter`, so a long stream's arrivals, the largest
    /// arrays of an analysis, are not copied (and faulted in) again and again as they grow,
    /// and a capture of many short streams reserves nothing.
    var expectedSamples = 0
    static let reservingAfter = 1024

    /// One more packet. `sessions` are the capture's SDPs so far; `flagRate` is the rate a
    /// stream runs at when neither they nor its timestamps tell.
    mutating func add(_ packet: RTPObservation, sessions: SessionDescriptions, flagRate: Int) {
        if senders.last != packet.sender, !senders.contains(packet.sender) { senders.append(packet.sender) }
        guard isResolved else { return wait(packet, sessions: sessions, flagRate: flagRate) }
        measure(packet)
    }

    /// A packet of a stream whose clock rate is not known yet: held until it is.
    @inline(never)
    private mutating func wait(_ packet: RTPObservation, sessions: SessionDescriptions, flagRate: Int) {
        pending.append(packet)
        if sessions.generation != sessionsSeen, let map = sessions.map(payloadType: payloadType, receiver: receiver) {
            resolve(ClockRate(hertz: map.clockRate, source: .sdp, encoding: map.encoding))
        } else if let first = pending.first,
            packet.microseconds - first.microseconds >= ClockRate.estimationSpanMicroseconds
                || pending.count >= Self.pendingLimit
        {
            resolve(estimate(flagRate: flagRate, atEnd: false))
        }
        sessionsSeen = sessions.generation
    }

    /// The capture ended: a stream still waiting for its rate gets an estimate from what it
    /// has, or the flag's rate.
    mutating func finish(sessions: SessionDescriptions, flagRate: Int) {
        guard clock == nil else { return }
        if let map = sessions.map(payloadType: payloadType, receiver: receiver) {
            resolve(ClockRate(hertz: map.clockRate, source: .sdp, encoding: map.encoding))
        } else {
            resolve(estimate(flagRate: flagRate, atEnd: true))
        }
    }

    private mutating func resolve(_ rate: ClockRate) {
        clock = rate
        isResolved = true
        self.rate = Double(rate.hertz)
        durationRule = PayloadDuration.rule(payloadType: payloadType, encoding: rate.encoding)
        let waiting = pending
        pending = []
        for packet in waiting { measure(packet) }
    }

    /// The rate the waiting packets' timestamps advance at against their arrivals, from the
    /// first to the one with the highest sequence number, snapped to a standard rate.
    private func estimate(flagRate: Int, atEnd: Bool) -> ClockRate {
        let flag = ClockRate(hertz: flagRate, source: .flag)
        guard let first = pending.first else { return flag }
        var extender = SequenceExtender()
        var top = (sequence: extender.extend(first.sequence), packet: first)
        var seen = Set<Int64>()
        for packet in pending {
            let sequence = extender.extend(packet.sequence)
            seen.insert(sequence)
            if sequence > top.sequence { top = (sequence, packet) }
        }
        let span = top.packet.microseconds - first.microseconds
        if atEnd, span < ClockRate.shortestEstimateMicroseconds || seen.count < ClockRate.fewestEstimatePackets {
            return flag
        }
        let advance = Int64(Int32(bitPattern: top.packet.timestamp &- first.timestamp))
        guard let hertz = ClockRate.snapped(units: advance, microseconds: span) else { return flag }
        return ClockRate(hertz: hertz, source: .estimated)
    }

    private mutating func measure(_ packet: RTPObservation) {
        let microseconds = packet.microseconds
        let sequence = extender.extend(packet.sequence)
        if distinct == 0 && duplicates == 0 {
            firstArrival = microseconds
            lastArrival = microseconds
        }
        guard received.insert(sequence) else {
            duplicates += 1
            record(microseconds, sequence, duplicate: true, reordered: false, marker: packet.marker)
            return
        }
        let late = distinct > 0 && sequence < highest
        if late { reordered += 1 }
        // By the packet's own payload type: telephone events share a voice stream's SSRC.
        let rule =
            packet.payloadType == payloadType
            ? durationRule : PayloadDuration.rule(payloadType: packet.payloadType, encoding: nil)
        let duration =
            rule?.units(length: Int(packet.payloadLength), first: packet.payloadHead.0, second: packet.payloadHead.1)
            ?? 0
        // The speaker's silence before a talk spurt is not a gap: the media time since the
        // newest packet beyond what the sequence numbers in between account for, each a frame
        // (the newest packet's own duration where its codec says it, else the usual step).
        // Consecutive sequence numbers are never silence unless the sender marks a spurt.
        var silence: Int64 = 0
        if distinct > 0, sequence > highest {
            let steps = sequence - highest
            let ticks = Int64(Int32(bitPattern: packet.timestamp &- newest.timestamp))
            if steps == 1, ticks > 0, !packet.marker { frames.add(step: ticks) }
            if let frame = newest.duration > 0 ? newest.duration : frames.frame, frame > 0, ticks > 0,
                steps > 1 || packet.marker
            {
                let (accounted, overflow) = steps.multipliedReportingOverflow(by: frame)
                if !overflow, ticks - accounted >= frame {
                    silence = Int64(Double(ticks - accounted) / rate * 1_000_000)
                }
            }
        }
        record(microseconds, sequence, duplicate: false, reordered: late, marker: packet.marker, silence: silence)
        if distinct == 0 || sequence > highest { newest = (packet.timestamp, duration) }
        distinct += 1
        lowest = min(lowest, sequence)
        highest = max(highest, sequence)

        if distinct > 1 {
            let gap = max(0, microseconds - lastArrival - silence)
            let bin = Int(min(100, gap / 1000))
            if bin >= gapHistogram.count { gapHistogram += repeatElement(0, count: bin - gapHistogram.count + 1) }
            gapHistogram[bin] += 1
            maxGapMicroseconds = max(maxGapMicroseconds, gap)
        }
        lastArrival = microseconds

        if let previous {
            let arrival = Double(microseconds - previous.microseconds) * rate / 1_000_000
            let sent = Double(Int32(bitPattern: packet.timestamp &- previous.timestamp))
            jitter += (abs(arrival - sent) - jitter) / 16
        }
        previous = (microseconds, packet.timestamp)
    }

    private mutating func record(
        _ microseconds: Int64, _ sequence: Int64, duplicate: Bool, reordered: Bool, marker: Bool, silence: Int64 = 0
    ) {
        guard samples.count < Self.sampleLimit else { return }
        if samples.isEmpty { origin = sequence }
        if samples.count == Self.reservingAfter, expectedSamples > samples.count {
            samples.reserveCapacity(min(expectedSamples, Self.sampleLimit))
        }
        samples.append(
            StreamDetail.Arrival(
                microseconds: microseconds, sequence: Int(sequence - origin), duplicate: duplicate,
                reordered: reordered, startsTalkSpurt: marker, silenceMicroseconds: silence))
    }

    /// Sequence numbers between the lowest and highest received that never arrived.
    var lost: Int { distinct == 0 ? 0 : Int(highest - lowest + 1) - distinct }
}
