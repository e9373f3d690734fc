import CSpeexDSP
import RTP

/// speexdsp's adaptive jitter buffer for one incoming stream, in RTP timestamp units: packets go
/// in as they arrive, and every 20 ms the receiver takes out the frame due now, or learns that
/// it is missing (then the decoder conceals it). Not thread-safe: one per stream.
public final class JitterBuffer {
    public let frameSize: Int
    private let buffer: OpaquePointer
    private var scratch = [CChar](repeating: 0, count: 4096)

    public init(frameSize: Int) {
        self.frameSize = frameSize
        buffer = jitter_buffer_init(Int32(frameSize))
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

    /// The payload due now, or nil when it is missing; then the buffer's clock moves one frame.
    public func next() -> [UInt8]? {
        var payload: [UInt8]?
        scratch.withUnsafeMutableBufferPointer { space in
            var packet = JitterBufferPacket(
                data: space.baseAddress, len: UInt32(space.count), timestamp: 0, span: 0, sequence: 0, user_data: 0)
            var offset: Int32 = 0
            if jitter_buffer_get(buffer, &packet, Int32(frameSize), &offset) == JITTER_BUFFER_OK {
                payload = space.prefix(Int(packet.len)).map { UInt8(bitPattern: $0) }
            }
        }
        jitter_buffer_tick(buffer)
        return payload
    }
}

/// What one receiver hears from one speaker: packets through the jitter buffer, decoded, missing
/// frames concealed, one 20 ms frame per tick. `heard` runs from the first frame decoded to the
/// last: every frame in between is there, decoded or concealed, so it lines up with the source.
public final class SpeakerTrack {
    public let ssrc: UInt32
    private let jitter: JitterBuffer
    private let decoder: SpeexDecoder
    /// Every frame played since the first one decoded.
    private var played: [Int16] = []
    /// How much of `played` ends with a decoded frame.
    private var heardLength = 0
    /// Frames concealed since the last frame decoded.
    private var pendingConcealed = 0
    /// Frames concealed between the first and the last frame decoded.
    public private(set) var concealed = 0
    /// Packets handed in.
    public private(set) var packets = 0

    /// How long after a speaker's first packet its playout ticks should begin: half a frame, so
    /// a packet arriving a fraction of a millisecond after a tick is not late. With ticks in
    /// phase with the arrivals, speexdsp's buffer drops a frame that did arrive and conceals it.
    public static let playoutOffset: Duration = .milliseconds(10)

    public init(ssrc: UInt32, band: SpeexBand) {
        self.ssrc = ssrc
        jitter = JitterBuffer(frameSize: band.frameSize)
        decoder = SpeexDecoder(band: band)
    }

    /// What was heard, from the first frame decoded to the last.
    public var heard: [Int16] { Array(played.prefix(heardLength)) }

    public func receive(_ packet: RTPPacket) {
        packets += 1
        jitter.put(packet)
    }

    /// One playout tick (every 20 ms): plays one frame once the first packet is due.
    public func tick() {
        guard packets > 0 else { return }
        let payload = jitter.next()
        // Until the first frame comes out, the buffer is filling: nothing to line up yet.
        if payload == nil && played.isEmpty { return }
        played += decoder.decode(payload)
        if payload == nil {
            pendingConcealed += 1
        } else {
            concealed += pendingConcealed
            pendingConcealed = 0
            heardLength = played.count
        }
    }
}
