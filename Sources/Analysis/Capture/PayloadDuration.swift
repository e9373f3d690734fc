/// How much media an RTP payload holds, in timestamp units, where its codec says so: PCMU,
/// PCMA and G.722 (one unit a byte), GSM (33 bytes a 160-unit frame), G.729 (10 bytes a
/// 80-unit frame), L16 (RFC 3551's two static types) and Opus (RFC 6716's TOC byte, at
/// 48 kHz). Other codecs do not say; their frame is estimated from the timestamps.
enum PayloadDuration {
    /// The encoding's duration rule, or nil when the payload does not tell.
    static func rule(payloadType: UInt8, encoding: String?) -> Rule? {
        switch payloadType {
        case 0, 8, 9: return .bytes(per: 1, units: 1)
        case 3: return .bytes(per: 33, units: 160)
        case 18: return .bytes(per: 10, units: 80)
        case 10: return .bytes(per: 4, units: 1)
        case 11: return .bytes(per: 2, units: 1)
        default: break
        }
        if encoding?.lowercased() == "opus" { return .opus }
        return nil
    }

    /// How a codec's payload length or header gives its duration.
    enum Rule: Equatable {
        /// `units` timestamp units for every whole `per` bytes.
        case bytes(per: Int, units: Int)
        /// The TOC byte (and frame count byte) of RFC 6716, section 3.1.
        case opus

        /// The duration of a payload of `length` bytes starting with `first`, `second`; 0 when
        /// it cannot be told (an empty payload, a comfort-noise frame).
        func units(length: Int, first: UInt8, second: UInt8) -> Int64 {
            switch self {
            case .bytes(let per, let units):
                return Int64(length / per) * Int64(units)
            case .opus:
                guard length >= 1 else { return 0 }
                let config = Int(first >> 3)
                // Frame sizes in 48 kHz units: SILK 10/20/40/60 ms, hybrid 10/20, CELT 2.5/5/10/20.
                let size: Int64 =
                    switch config {
                    case 0...11: [480, 960, 1920, 2880][config % 4]
                    case 12...15: [480, 960][config % 2]
                    default: [120, 240, 480, 960][config % 4]
                    }
                let frames: Int64 =
                    switch first & 3 {
                    case 0: 1
                    case 1, 2: 2
                    default: length >= 2 ? Int64(second & 0x3F) : 0
                    }
                return size * frames
            }
        }
    }
}
