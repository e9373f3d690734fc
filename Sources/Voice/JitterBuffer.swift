import CSpeexDSP
import RTP

/// speexdsp's adaptive jitter buffer for one incoming stream, in RTP timestamp units: packets go
/// in as they arrive, and every 20 ms the receiver takes out the frame due now, or learns that
/// it is missing (then the decoder conceals it). Not thread-safe: one per stream.
public final class JitterBuffer {
    public let frameSize: Int
    private let buffer: OpaquePointer
    private var scratch = [CChar](repeating: 0, count: 4096)

    /// `margin`: the delay, in timestamp units, the buffer keeps beyond what the arrivals it
    /// has seen call for (speexdsp's own default is none: it shrinks to the earliest arrivals,
    /// and then a packet a few milliseconds late is dropped and concealed).
    public init(frameSize: Int, margin: Int = 0) {
        self.frameSize = frameSize
        buffer = jitter_buffer_init(Int32(frameSize))
        var margin = Int32(clamping: margin)
        jitter_buffer_ctl(buffer, JITTER_BUFFER_SET_MARGIN, &margin)
    }

    deinit { jitter_buffer_destroy(buffer) }

    /// Hands an arrived packet to the buffer (it keeps a copy).
    public func put(_ packet: RTPPacket) {
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

    /// How long after a speaker's first packet its playout ticks should begin: half a frame, so
    /// a packet arriving a fraction of a millisecond after a tick is not late. With ticks in
    /// phase with the arrivals, speexdsp's buffer drops a frame that did arrive and conceals it.
    public static let playoutOffset: Duration = .milliseconds(10)

    /// The delay the jitter buffer keeps beyond what the arrivals call for: one frame. With the
    /// half-frame offset, a packet up to 25 ms behind its speaker's clock (a sender whose host
    /// was busy, then catching up) is still played; with none, 10 ms late was already too late.
    public static let playoutMarginFrames = 1

    public init(ssrc: UInt32, band: SpeexBand) {
        self.ssrc = ssrc
        frameSize = band.frameSize
        jitter = JitterBuffer(frameSize: band.frameSize, margin: band.frameSize * Self.playoutMarginFrames)
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
            guard slot >= (decoded.last?.slot ?? -1) + 1 else { return }  // out of place: not heard
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
