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
/// frames concealed, one 20 ms frame of samples per tick from the first packet on, so the audio
/// lines up with the source in time.
public final class SpeakerTrack {
    public let ssrc: UInt32
    private let jitter: JitterBuffer
    private let decoder: SpeexDecoder
    /// Every sample heard so far.
    public private(set) var samples: [Int16] = []
    /// Frames the buffer did not have when they were due (concealed).
    public private(set) var concealed = 0
    public private(set) var started = false

    public init(ssrc: UInt32, band: SpeexBand) {
        self.ssrc = ssrc
        jitter = JitterBuffer(frameSize: band.frameSize)
        decoder = SpeexDecoder(band: band)
    }

    public func receive(_ packet: RTPPacket) {
        started = true
        jitter.put(packet)
    }

    /// One playout tick (every 20 ms once the first packet arrived): appends one frame.
    public func tick() {
        guard started else { return }
        let payload = jitter.next()
        if payload == nil { concealed += 1 }
        samples += decoder.decode(payload)
    }
}
