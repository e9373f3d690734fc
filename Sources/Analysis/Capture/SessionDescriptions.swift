/// The media descriptions SIP calls announce in a capture (SDP, RFC 8866): which payload type
/// a receiving address and port expects at which clock rate (`a=rtpmap`). Read from the
/// capture's own SIP messages, so a dynamic payload type's rate is the call's, not a guess.
struct SessionDescriptions {
    /// One `a=rtpmap` line: `97 opus/48000/2`.
    struct RTPMap: Equatable {
        var encoding: String
        var clockRate: Int
    }

    private var byReceiver: [Endpoint: [UInt8: RTPMap]] = [:]
    /// Every payload type some description maps, with its rate; nil when descriptions disagree.
    private var byPayloadType: [UInt8: RTPMap?] = [:]
    /// Grows with every description read, so a stream waiting for one knows when to look again.
    private(set) var generation = 0

    /// The rate a receiver was told to expect for a payload type: its own description's, else
    /// the one every description in the capture agrees on.
    func map(payloadType: UInt8, receiver: Endpoint) -> RTPMap? {
        if let own = byReceiver[receiver]?[payloadType] { return own }
        return byPayloadType[payloadType] ?? nil
    }

    /// Reads the SDP body of a SIP message (request or response), if `payload` is one.
    mutating func read(sipMessage payload: UnsafeRawBufferPointer) {
        guard Self.looksLikeSIP(payload), let body = Self.body(of: payload) else { return }
        var sessionAddress: (high: UInt64, low: UInt64, isV6: Bool)?
        var mediaAddress: (high: UInt64, low: UInt64, isV6: Bool)?
        var port: UInt16?
        var formats: Set<UInt8> = []
        var maps: [UInt8: RTPMap] = [:]
        var inMedia = false
        func flush() {
            guard inMedia, let port, let address = mediaAddress ?? sessionAddress else { return }
            let receiver = Endpoint(high: address.high, low: address.low, isV6: address.isV6, port: port)
            for (type, map) in maps where formats.contains(type) {
                byReceiver[receiver, default: [:]][type] = map
                if let known = byPayloadType[type] {
                    if known != map { byPayloadType[type] = .some(nil) }
                } else {
                    byPayloadType[type] = map
                }
            }
        }
        // "\r\n" is one Character in Swift: `isNewline` splits either line ending.
        for line in body.split(whereSeparator: \.isNewline) {
            let value = line.dropFirst(2)
            switch line.prefix(2) {
            case "m=":
                flush()
                inMedia = true
                mediaAddress = nil
                maps = [:]
                let fields = value.split(separator: " ")
                port = fields.count >= 3 ? fields[1].split(separator: "/").first.flatMap { UInt16($0) } : nil
                formats = Set(fields.dropFirst(3).compactMap { UInt8($0) })
            case "c=":
                // c=IN IP4 192.0.2.1[/ttl] or c=IN IP6 2001:db8::1
                let fields = value.split(separator: " ")
                guard fields.count >= 3, let address = Endpoint.parseAddress(String(fields[2].split(separator: "/")[0]))
                else { continue }
                if inMedia { mediaAddress = address } else { sessionAddress = address }
            case "a=":
                // a=rtpmap:<type> <encoding>/<rate>[/<channels>]
                guard value.hasPrefix("rtpmap:") else { continue }
                let fields = value.dropFirst("rtpmap:".count).split(separator: " ", maxSplits: 1)
                guard fields.count == 2, let type = UInt8(fields[0]) else { continue }
                let parts = fields[1].split(separator: "/")
                guard parts.count >= 2, let rate = Int(parts[1]), CaptureAnalysis.acceptedClockRates.contains(rate)
                else {
                    continue
                }
                maps[type] = RTPMap(encoding: String(parts[0]), clockRate: rate)
            default:
                continue
            }
        }
        flush()
        generation += 1
    }

    /// A SIP request line (`INVITE sip:... SIP/2.0`) or status line (`SIP/2.0 200 OK`).
    static func looksLikeSIP(_ payload: UnsafeRawBufferPointer) -> Bool {
        guard payload.count >= 16, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(payload[0]) else { return false }
        let head = payload.prefix(256)
        let firstLine = head[..<(head.firstIndex(of: UInt8(ascii: "\n")) ?? head.endIndex)]
        return firstLine.starts(with: "SIP/2.0 ".utf8) || firstLine.firstRange(of: " SIP/2.0".utf8) != nil
    }

    /// The message body after the blank line, as text, when it is an SDP (`v=0` first).
    static func body(of payload: UnsafeRawBufferPointer) -> Substring? {
        let end =
            payload.firstRange(of: "\r\n\r\n".utf8)?.upperBound ?? payload.firstRange(of: "\n\n".utf8)?.upperBound
        guard let end, payload[end...].starts(with: "v=0".utf8) else { return nil }
        return String(decoding: payload[end...], as: UTF8.self)[...]
    }
}
