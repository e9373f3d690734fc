/// Voice is the prototype service's audio: libspeex encoding and decoding (never a hand-written
/// codec), with packet-loss concealment, and WAV files for what speakers say and listeners hear.
/// The RTP relay, the speexdsp jitter buffer and the clients build on it.
import CSpeex

/// Speex's three bands. RTP's clock rate equals the sampling rate (RFC 5574).
public enum SpeexBand: String, Sendable, CaseIterable {
    case narrowband, wideband, ultraWideband

    public var sampleRate: Int {
        switch self {
        case .narrowband: 8000
        case .wideband: 16000
        case .ultraWideband: 32000
        }
    }

    /// Samples in one 20 ms frame.
    public var frameSize: Int { sampleRate / 50 }

    /// The library's own mode table (Speex keeps this pointer for the codec's life).
    var mode: UnsafePointer<SpeexMode> {
        switch self {
        case .narrowband: speex_lib_get_mode(SPEEX_MODEID_NB)
        case .wideband: speex_lib_get_mode(SPEEX_MODEID_WB)
        case .ultraWideband: speex_lib_get_mode(SPEEX_MODEID_UWB)
        }
    }
}

/// Encodes 20 ms frames of 16-bit mono PCM into Speex payloads. Not thread-safe: one per speaker.
public final class SpeexEncoder {
    public let band: SpeexBand
    private let state: UnsafeMutableRawPointer
    private var bits = SpeexBits()

    /// `quality` 0...10 (default 8).
    public init(band: SpeexBand = .wideband, quality: Int = 8) {
        self.band = band
        state = speex_encoder_init(band.mode)
        var value = Int32(max(0, min(10, quality)))
        speex_encoder_ctl(state, SPEEX_SET_QUALITY, &value)
        speex_bits_init(&bits)
    }

    deinit {
        speex_bits_destroy(&bits)
        speex_encoder_destroy(state)
    }

    /// One frame (`band.frameSize` samples; shorter input is padded with silence) to one payload.
    public func encode(_ frame: [Int16]) -> [UInt8] {
        var samples = frame + [Int16](repeating: 0, count: max(0, band.frameSize - frame.count))
        speex_bits_reset(&bits)
        _ = samples.withUnsafeMutableBufferPointer { speex_encode_int(state, $0.baseAddress, &bits) }
        var payload = [CChar](repeating: 0, count: 1024)
        let count = speex_bits_write(&bits, &payload, Int32(payload.count))
        return payload.prefix(Int(count)).map { UInt8(bitPattern: $0) }
    }
}

/// Decodes Speex payloads into 20 ms frames; a missing payload is concealed from what came
/// before (Speex's packet-loss concealment), so the output stays continuous in time.
public final class SpeexDecoder {
    public let band: SpeexBand
    private let state: UnsafeMutableRawPointer
    private var bits = SpeexBits()

    public init(band: SpeexBand = .wideband) {
        self.band = band
        state = speex_decoder_init(band.mode)
        var enhance: Int32 = 1
        speex_decoder_ctl(state, SPEEX_SET_ENH, &enhance)
        speex_bits_init(&bits)
    }

    deinit {
        speex_bits_destroy(&bits)
        speex_decoder_destroy(state)
    }

    /// One payload to one frame; `nil` (the packet never came) conceals.
    public func decode(_ payload: [UInt8]?) -> [Int16] {
        var output = [Int16](repeating: 0, count: band.frameSize)
        if let payload {
            var bytes = payload.map { CChar(bitPattern: $0) }
            speex_bits_read_from(&bits, &bytes, Int32(bytes.count))
            _ = output.withUnsafeMutableBufferPointer { speex_decode_int(state, &bits, $0.baseAddress) }
        } else {
            _ = output.withUnsafeMutableBufferPointer { speex_decode_int(state, nil, $0.baseAddress) }
        }
        return output
    }
}
