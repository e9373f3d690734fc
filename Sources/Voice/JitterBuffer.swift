import CSpeexDSP
import RTP

/// speexdsp's jitter buffer for one incoming stream, in RTP timestamp units: packets go in as
/// they arrive, and every 20 ms the receiver takes out the frame due now, or learns that it is
/// missing (then the decoder conceals it). Not thread-safe: one per stream.
///
/// Its delay is the one the playout clock starts with: speexdsp's adaptation to the arrivals
/// is off, so a packet is played when it arrives before its frame's tick. (Adapting, it shrank
/// the delay to the earliest arrivals, and then a packet a few milliseconds late was concealed;
/// with a margin it dropped a frame of a clean stream.) When packets keep missing their ticks
/// (the path got longer), it still grows its delay, by insertions.
///
/// After more than 20 ticks without a frame (a speaker's silence), speexdsp starts over at the
/// next packet and syncs on the oldest one it holds at the next tick, whatever its phase: the
/// next talk spurt would play with 0-20 ms of delay instead of the playout delay. So the
/// playout clock goes on through the silence here, and the sync waits for that packet's own
/// tick.
public final class JitterBuffer {
    public let frameSize: Int
    private let buffer: OpaquePointer
    private var scratch = [CChar](repeating: 0, count: 4096)
    /// Ticks in a row without a frame: speexdsp's own count, which starts it over at a packet
    /// once it passes 20.
    private var starved = 0
    /// The timestamp due at the next tick, once the buffer has synced.
    private var due: UInt32?
    /// When speexdsp has started over and not yet synced: the oldest timestamp it holds.
    private var resync: UInt32?
    /// How far ahead of the playout clock a resync may wait (a second): a packet further
    /// ahead is not the speaker's next spurt on the same clock, and the sync happens at once.
    private var longestWait: Int32 { Int32(frameSize) * 50 }

    public init(frameSize: Int) {
        self.frameSize = frameSize
        buffer = jitter_buffer_init(Int32(frameSize))
        // Updating the delay by hand turns speexdsp's own updates off; before any packet it
        // changes nothing.
        _ = jitter_buffer_update_delay(buffer, nil, nil)
    }

    deinit { jitter_buffer_destroy(buffer) }

    /// Hands an arrived packet to the buffer (it keeps a copy).
    public func put(_ packet: RTPPacket) {
        if starved > 20 {
            starved = 0
            resync = packet.timestamp
        } else if let oldest = resync, Int32(bitPattern: packet.timestamp &- oldest) < 0 {
            resync = packet.timestamp
        }
        packet.payload.withUnsafeBufferPointer { payload in
            payload.withMemoryRebound(to: CChar.self) { bytes in
                var entry = JitterBufferPacket(
                    data: UnsafeMutablePointer(mutating: bytes.baseAddress), len: UInt32(bytes.count),
                    timestamp: packet.timestamp, span: UInt32(frameSize), sequence: packet.sequenceNumber, user_data: 0)
                jitter_buffer_put(buffer, &entry)
            }
        }
    }

    /// What the buffer hands out at one playout tick.
    public enum Output: Equatable {
        /// The packet due now.
        case frame(payload: [UInt8], sequence: UInt16, timestamp: UInt32)
        /// Nothing for the frame due at `timestamp`: it is lost, late, or was never sent.
        case missing(timestamp: UInt32)
        /// The buffer is growing its delay: play a frame that takes no place in the stream.
        case insertion
    }

    /// What to play now; then the buffer's clock moves one frame.
    public func next() -> Output {
        if let oldest = resync, let now = due {
            let ahead = Int32(bitPattern: oldest &- now)
            if ahead > 0 && ahead <= longestWait {
                due = now &+ UInt32(frameSize)
                return .missing(timestamp: now)
            }
        }
        resync = nil
        var output = Output.insertion
        scratch.withUnsafeMutableBufferPointer { space in
            var packet = JitterBufferPacket(
                data: space.baseAddress, len: UInt32(space.count), timestamp: 0, span: 0, sequence: 0, user_data: 0)
            var offset: Int32 = 0
            switch jitter_buffer_get(buffer, &packet, Int32(frameSize), &offset) {
            case JITTER_BUFFER_OK:
                output = .frame(
                    payload: space.prefix(Int(packet.len)).map { UInt8(bitPattern: $0) }, sequence: packet.sequence,
                    timestamp: packet.timestamp)
            case JITTER_BUFFER_MISSING: output = .missing(timestamp: packet.timestamp)
            default: output = .insertion
            }
        }
        if case .frame = output { starved = 0 } else { starved += 1 }
        due = UInt32(bitPattern: jitter_buffer_get_pointer_timestamp(buffer))
        jitter_buffer_tick(buffer)
        return output
    }
}

/// What one receiver hears from one speaker, placed on the speaker's own timeline: packets go
/// through the jitter buffer and the decoder (which conceals what is missing), and every frame
/// played lands at its RTP timestamp's place, so `heard` lines up with the source sample for
/// sample however the buffer adapts its delay. It runs from the first frame decoded to the
/// last. Between two decoded frames, a frame whose packet was lost (a hole in the sequence
/// numbers) is concealed; a frame nobody sent (the speaker's silence between talk spurts, where
/// the timestamps jump but the sequence numbers do not) is silence.
public final class SpeakerTrack {
    public let ssrc: UInt32
    private let jitter: JitterBuffer
    private let decoder: SpeexDecoder
    private let frameSize: Int
    /// The timestamp of slot 0: the first frame decoded.
    private var origin: UInt32?
    /// What was played at each slot (decoded or concealed), by slot.
    private var frames: [Int: (samples: [Int16], decoded: Bool)] = [:]
    /// Decoded slots in order, with their sequence numbers.
    private var decoded: [(slot: Int, sequence: UInt16)] = []
    /// Packets handed in.
    public private(set) var packets = 0
    /// The most frames a track holds from its first one: an hour (a recording of 58 MB for
    /// narrowband, 115 MB wideband). A packet whose timestamp lies further on is not heard: two
    /// packets 2^31 timestamps apart must not make a listener allocate 4 GiB.
    public static let maximumSlots = 50 * 3600

    /// How long after a speaker's first packet its playout ticks begin: the delay a packet may
    /// have behind its speaker's clock (set by the first packet) and still be played. Three and
    /// a half frames: a host that stalls for tens of milliseconds (a debug peer on a busy
    /// two-core virtual machine) conceals nothing, and mouth to ear
    /// stays far below the 150 ms ITU-T G.114 allows one way. The half frame keeps the ticks
    /// out of phase with the arrivals: ticks in phase with them see some packets a fraction of
    /// a millisecond after their tick.
    public static let playoutDelay: Duration = .milliseconds(70)

    public init(ssrc: UInt32, band: SpeexBand) {
        self.ssrc = ssrc
        frameSize = band.frameSize
        jitter = JitterBuffer(frameSize: band.frameSize)
        decoder = SpeexDecoder(band: band)
    }

    public func receive(_ packet: RTPPacket) {
        packets += 1
        jitter.put(packet)
    }

    /// One playout tick (every 20 ms), once the first packet is in.
    public func tick() {
        guard packets > 0 else { return }
        switch jitter.next() {
        case .frame(let payload, let sequence, let timestamp):
            let origin = self.origin ?? timestamp
            self.origin = origin
            let slot = Int(Int32(bitPattern: timestamp &- origin)) / frameSize
            let samples = decoder.decode(payload)
            // Out of place (before the last frame heard, or further from the first than a
            // recording holds): not heard.
            guard slot >= (decoded.last?.slot ?? -1) + 1, slot < Self.maximumSlots else { return }
            frames[slot] = (samples, true)
            decoded.append((slot, sequence))
        case .missing(let timestamp):
            // Keep the decoder's state going; before the first frame there is nothing to place.
            let samples = decoder.decode(nil)
            guard let origin else { return }
            let slot = Int(Int32(bitPattern: timestamp &- origin)) / frameSize
            // Concealment is kept for the first second after a decoded frame (packets lost
            // there are heard so); later slots are silence or the concealment's own silence.
            let after = decoded.last?.slot ?? -1
            if slot > after, slot - after <= 50, frames[slot] == nil { frames[slot] = (samples, false) }
        case .insertion:
            _ = decoder.decode(nil)
        }
    }

    /// Each gap between two decoded frames: where it starts, how long it is, and how many of
    /// its frames had a packet (lost, so concealed) rather than none (silence).
    private var gaps: [(start: Int, length: Int, lost: Int)] {
        zip(decoded, decoded.dropFirst()).compactMap { a, b in
            let length = b.slot - a.slot - 1
            guard length > 0 else { return nil }
            return (a.slot + 1, length, min(length, Int(b.sequence &- a.sequence &- 1)))
        }
    }

    /// Frames concealed (their packet was lost or came too late) between the first and the
    /// last frame decoded.
    public var concealed: Int { gaps.reduce(0) { $0 + $1.lost } }
    /// Frames of silence between talk spurts (no packet was sent for them).
    public var silent: Int { gaps.reduce(0) { $0 + $1.length - $1.lost } }

    /// How many frames `heard` holds, without making it.
    public var framesHeard: Int { decoded.last.map { $0.slot + 1 } ?? 0 }

    /// What was heard, from the first frame decoded to the last: decoded frames, concealment for
    /// lost ones (right after the frame before them), silence for the speaker's silences.
    public var heard: [Int16] {
        guard let last = decoded.last?.slot else { return [] }
        var samples = [Int16](repeating: 0, count: (last + 1) * frameSize)
        var quiet = Set<Int>()
        for gap in gaps { quiet.formUnion((gap.start + gap.lost)..<(gap.start + gap.length)) }
        for (slot, frame) in frames where slot >= 0 && slot <= last && !quiet.contains(slot) {
            samples.replaceSubrange((slot * frameSize)..<((slot + 1) * frameSize), with: frame.samples)
        }
        return samples
    }
}
