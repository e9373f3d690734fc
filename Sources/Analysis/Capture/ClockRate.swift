/// Where a stream's clock rate (timestamp units per second) came from (`clockRateSource`).
public enum ClockRateSource: String, Sendable, Equatable, Codable {
    /// A static payload type of RFC 3551, whose rate is fixed.
    case `static`
    /// An SDP `a=rtpmap` in the capture (a SIP call's offer or answer).
    case sdp
    /// The timestamps' advance against the arrival times, snapped to a standard rate.
    case estimated
    /// None of those: the rate `testbed report --clock-rate` gives (16 kHz by default).
    case flag
}

/// A stream's clock rate and where it came from.
struct ClockRate: Equatable {
    var hertz: Int
    var source: ClockRateSource
    /// The codec's name, when the payload type is static or an SDP named it.
    var encoding: String?

    /// The rates a timestamp advance is snapped to.
    static let standardRates = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 90000]
    /// How far an estimate may lie from a standard rate and still be taken as it.
    static let snapTolerance = 0.04
    /// The span of arrivals an estimate waits for, unless the stream ends sooner.
    static let estimationSpanMicroseconds: Int64 = 2_000_000
    /// The shortest span and fewest packets an estimate at the stream's end may rest on.
    static let shortestEstimateMicroseconds: Int64 = 200_000
    static let fewestEstimatePackets = 4

    /// The rate of a static payload type (RFC 3551, tables 4 and 5), nil for dynamic ones.
    static func fixed(payloadType: UInt8) -> ClockRate? {
        let table: [UInt8: (String, Int)] = [
            0: ("PCMU", 8000), 3: ("GSM", 8000), 4: ("G723", 8000), 5: ("DVI4", 8000), 6: ("DVI4", 16000),
            7: ("LPC", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000), 10: ("L16", 44100), 11: ("L16", 44100),
            12: ("QCELP", 8000), 13: ("CN", 8000), 14: ("MPA", 90000), 15: ("G728", 8000), 16: ("DVI4", 11025),
            17: ("DVI4", 22050), 18: ("G729", 8000), 25: ("CelB", 90000), 26: ("JPEG", 90000), 28: ("nv", 90000),
            31: ("H261", 90000), 32: ("MPV", 90000), 33: ("MP2T", 90000), 34: ("H263", 90000),
        ]
        return table[payloadType].map { ClockRate(hertz: $0.1, source: .static, encoding: $0.0) }
    }

    /// A rate measured from `units` of timestamp advance over `microseconds` of arrivals,
    /// snapped to the nearest standard rate; nil when none lies within the tolerance.
    static func snapped(units: Int64, microseconds: Int64) -> Int? {
        guard units > 0, microseconds > 0 else { return nil }
        let measured = Double(units) / (Double(microseconds) / 1e6)
        let nearest = standardRates.min { abs(Double($0) - measured) < abs(Double($1) - measured) }!
        return abs(measured - Double(nearest)) <= snapTolerance * Double(nearest) ? nearest : nil
    }
}
