import RTP

/// Sorts a capture's UDP datagrams that look like RTP into streams, one per (SSRC, receiving
/// address) for as long as the address stays bound (`SocketBindings`): RTCP is told apart as
/// RFC 5761 does it, and a key becomes a stream only once its packets look like one
/// (`StreamCandidate`); what never does is set aside and counted.
struct RTPStreams {
    /// What a key is so far, and until when (Unix µs): its receiver's address is bound again then.
    private enum Slot {
        case candidate(Int, until: Int64)
        case stream(Int, until: Int64)
    }

    private var slots: [StreamKey: Slot] = [:]
    /// Recently measured streams by a few bits of their key: most packets skip the hashing.
    private var recent = [(key: StreamKey, stream: Int, until: Int64)?](repeating: nil, count: 64)
    private var candidates: [StreamCandidate] = []
    private(set) var trackers: [RTPStreamTracker] = []
    /// SIP calls' media descriptions seen so far.
    var sessions = SessionDescriptions()
    /// Packets that looked like RTP but never formed a stream.
    private(set) var setAside = 0
    let flagRate: Int
    let overlayPort: UInt16
    /// The capture's size, which bounds how many packets any stream can still have.
    let captureBytes: Int
    let bindings: SocketBindings

    init(flagRate: Int, overlayPort: UInt16, captureBytes: Int = 0, bindings: SocketBindings = SocketBindings()) {
        self.flagRate = flagRate
        self.overlayPort = overlayPort
        self.captureBytes = captureBytes
        self.bindings = bindings
    }

    /// RTCP sent on an RTP port (RFC 5761, section 4): version 2, and a second byte of
    /// 192-223, which RTP would read as a marked payload type of 64-95.
    static func isRTCP(_ payload: UnsafeRawBufferPointer) -> Bool {
        payload.count >= 4 && payload[0] & 0xC0 == 0x80 && (192...223).contains(payload[1])
    }

    /// One RTP-looking datagram of a UDP segment, with its bandwidth.
    mutating func add(
        _ header: RTPHeader, segment: Segment, at microseconds: Int64, bytes: Int, bandwidth: inout BandwidthMeter
    ) {
        let packet = RTPObservation(
            header, payload: segment.payload, wireLength: segment.truncated ? segment.wireLength : nil,
            sender: segment.source, at: microseconds, bytes: bytes)
        let key = StreamKey(ssrc: header.ssrc, receiver: segment.destination)
        let line = Int(truncatingIfNeeded: header.ssrc ^ UInt32(segment.destination.port)) & (recent.count - 1)
        if let hit = recent[line], hit.key == key, microseconds < hit.until {
            return measure(packet, in: hit.stream, bandwidth: &bandwidth)
        }
        switch slots[key] {
        case .stream(let index, let until) where microseconds < until:
            recent[line] = (key, index, until)
            measure(packet, in: index, bandwidth: &bandwidth)
        case .candidate(let index, let until) where microseconds < until:
            consider(candidates[index].offer(packet), key: key, until: until, bandwidth: &bandwidth)
        case let slot:
            // A new key, or its receiver's address was bound again: a new receiver from here.
            if case .candidate(let index, _) = slot { setAside(candidates[index].held, to: key, bandwidth: &bandwidth) }
            let until = bindings.end(of: key.receiver, after: microseconds)
            candidates.append(StreamCandidate())
            let index = candidates.count - 1
            slots[key] = .candidate(index, until: until)
            consider(candidates[index].offer(packet), key: key, until: until, bandwidth: &bandwidth)
        }
    }

    private mutating func setAside(_ packets: [RTPObservation], to key: StreamKey, bandwidth: inout BandwidthMeter) {
        setAside += packets.count
        for packet in packets { count(packet, to: key.receiver, bandwidth: &bandwidth) }
    }

    private mutating func consider(
        _ verdict: StreamCandidate.Verdict, key: StreamKey, until: Int64, bandwidth: inout BandwidthMeter
    ) {
        switch verdict {
        case .held:
            break
        case .setAside(let packets):
            setAside(packets, to: key, bandwidth: &bandwidth)
        case .confirmed(let packets):
            let index = trackers.count
            trackers.append(
                RTPStreamTracker(
                    ssrc: key.ssrc, receiver: key.receiver, receiverHost: bandwidth.host(key.receiver),
                    payloadType: packets[0].payloadType))
            // Its share of the records of packets this size the capture can hold, over the
            // streams so far: an estimate only (the arrivals grow past it as any array does).
            let records = captureBytes / (16 + max(1, Int(packets[0].bytes)))
            trackers[index].expectedSamples = records / trackers.count
            slots[key] = .stream(index, until: until)
            for packet in packets { measure(packet, in: index, bandwidth: &bandwidth) }
        }
    }

    private mutating func measure(_ packet: RTPObservation, in index: Int, bandwidth: inout BandwidthMeter) {
        trackers[index].add(packet, sessions: sessions, flagRate: flagRate)
        // The tracker remembers its hosts: no address hashing per voice packet.
        let sender: Int
        if let known = trackers[index].senderHost, known.endpoint == packet.sender {
            sender = known.host
        } else {
            sender = bandwidth.host(packet.sender)
            trackers[index].senderHost = (packet.sender, sender)
        }
        bandwidth.add(
            bytes: Int(packet.bytes), from: sender, to: trackers[index].receiverHost, class: .voice,
            at: packet.microseconds)
    }

    /// A packet set aside: bandwidth as the overlay's or other traffic, as any UDP datagram.
    private func count(_ packet: RTPObservation, to receiver: Endpoint, bandwidth: inout BandwidthMeter) {
        let overlay = packet.sender.port == overlayPort || receiver.port == overlayPort
        bandwidth.add(
            bytes: Int(packet.bytes), from: packet.sender, to: receiver, class: overlay ? .overlay : .other,
            at: packet.microseconds)
    }

    /// The capture ended: candidates still held are set aside, and every stream still waiting
    /// for its clock rate gets one. The streams, in the order they were confirmed.
    mutating func finish(bandwidth: inout BandwidthMeter) -> [RTPStreamTracker] {
        for (key, slot) in slots {
            guard case .candidate(let index, _) = slot else { continue }
            setAside(candidates[index].held, to: key, bandwidth: &bandwidth)
        }
        candidates = []
        for index in trackers.indices { trackers[index].finish(sessions: sessions, flagRate: flagRate) }
        return trackers
    }
}

struct StreamKey: Hashable {
    var ssrc: UInt32
    var receiver: Endpoint

    /// Two words instead of five: this key is hashed once for every RTP packet of a capture.
    func hash(into hasher: inout Hasher) {
        hasher.combine(UInt64(ssrc) << 32 | UInt64(receiver.port) << 1 | (receiver.isV6 ? 1 : 0))
        hasher.combine(receiver.low ^ (receiver.high << 7 | receiver.high >> 57))
    }
}
