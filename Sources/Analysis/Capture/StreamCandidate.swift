import RTP

/// One RTP-looking datagram as the analysis keeps it: when it arrived, from whom, its header
/// fields and enough of its payload to tell its duration.
struct RTPObservation {
    var microseconds: Int64
    var sender: Endpoint
    var sequence: UInt16
    var timestamp: UInt32
    var payloadType: UInt8
    var marker: Bool
    /// The first two payload bytes (an Opus TOC and frame count) and the payload's length.
    var payloadHead: (UInt8, UInt8)
    var payloadLength: Int32
    /// The packet's length on the wire, for bandwidth.
    var bytes: Int32

    /// `wireLength`: the datagram's length on the wire, when the capture cut it short.
    init(
        _ header: RTPHeader, payload: UnsafeRawBufferPointer, wireLength: Int? = nil, sender: Endpoint,
        at microseconds: Int64, bytes: Int
    ) {
        self.microseconds = microseconds
        self.sender = sender
        sequence = header.sequenceNumber
        timestamp = header.timestamp
        payloadType = header.payloadType
        marker = header.marker
        let start = header.payloadStart
        let end = header.payloadEnd
        payloadLength = Int32(clamping: max(0, (wireLength.map { $0 - start } ?? end - start)))
        payloadHead = (end > start ? payload[start] : 0, end > start + 1 ? payload[start + 1] : 0)
        self.bytes = Int32(clamping: bytes)
    }
}

/// Datagrams that look like RTP on one (SSRC, receiver) key, held until they look like a
/// stream: `coherentSteps` packets whose sequence number is 1 to 16 ahead of the highest so
/// far and whose timestamp is at most 2^24 units ahead of that packet's. DNS queries, RTCP and random bytes start
/// with the same two bits as RTP; they rarely do that three times in a row.
struct StreamCandidate {
    static let coherentSteps = 3
    /// How many packets a candidate may hold before it is set aside and starts again.
    static let capacity = 16
    /// How far ahead a coherent step's sequence number and timestamp may be.
    static let largestSequenceStep: UInt16 = 16
    static let largestTimestampStep: UInt32 = 1 << 24

    private(set) var held: [RTPObservation] = []
    private var coherent = 0
    private var highest: (sequence: UInt16, timestamp: UInt32)?

    /// What one more packet did to the candidate.
    enum Verdict {
        /// Still a candidate.
        case held
        /// A stream: these packets (every one held, in arrival order) are its first.
        case confirmed([RTPObservation])
        /// Not a stream: these packets are set aside, and the candidate starts empty again.
        case setAside([RTPObservation])
    }

    mutating func offer(_ packet: RTPObservation) -> Verdict {
        held.append(packet)
        if let highest {
            let ahead = packet.sequence &- highest.sequence
            if (1...Self.largestSequenceStep).contains(ahead),
                packet.timestamp &- highest.timestamp < Self.largestTimestampStep
            {
                coherent += 1
            }
            // Any packet ahead (in 16-bit sequence arithmetic) is the highest from now on: a
            // sampled capture's stream jumps, then goes on coherently from the new place.
            if (1..<0x8000).contains(ahead) { self.highest = (packet.sequence, packet.timestamp) }
        } else {
            highest = (packet.sequence, packet.timestamp)
        }
        if coherent >= Self.coherentSteps {
            defer { self = StreamCandidate() }
            return .confirmed(held)
        }
        if held.count >= Self.capacity {
            defer { self = StreamCandidate() }
            return .setAside(held)
        }
        return .held
    }
}
