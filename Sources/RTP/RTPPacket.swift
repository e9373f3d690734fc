/// RTP is the packet format of voice data (RFC 3550, payloads per RFC 5574): the sender
/// (`Voice`) writes it and the judge (`Analysis`) reads it from captures, so neither imports
/// the other. No I/O, no dependencies.

/// One RTP packet's header fields and where its payload lies in the bytes it was read from.
public struct RTPPacket: Sendable, Equatable {
    public var marker: Bool
    public var payloadType: UInt8
    public var sequenceNumber: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32
    public var csrcs: [UInt32]
    /// The header extension's profile-defined word and data, if the X bit is set. On the wire
    /// the data is whole 32-bit words: shorter data is padded with zeros.
    public var headerExtension: (profile: UInt16, data: [UInt8])?
    public var payload: [UInt8]
    /// Padding bytes after the payload (the last of them holds the count); 0 for none.
    public var paddingLength: Int

    public init(
        marker: Bool = false, payloadType: UInt8, sequenceNumber: UInt16, timestamp: UInt32, ssrc: UInt32,
        csrcs: [UInt32] = [], headerExtension: (profile: UInt16, data: [UInt8])? = nil, payload: [UInt8],
        paddingLength: Int = 0
    ) {
        self.marker = marker
        self.payloadType = payloadType
        self.sequenceNumber = sequenceNumber
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.csrcs = csrcs
        self.headerExtension = headerExtension
        self.payload = payload
        self.paddingLength = paddingLength
    }

    public static func == (lhs: RTPPacket, rhs: RTPPacket) -> Bool {
        lhs.marker == rhs.marker && lhs.payloadType == rhs.payloadType && lhs.sequenceNumber == rhs.sequenceNumber
            && lhs.timestamp == rhs.timestamp && lhs.ssrc == rhs.ssrc && lhs.csrcs == rhs.csrcs
            && lhs.headerExtension?.profile == rhs.headerExtension?.profile
            && lhs.headerExtension?.data == rhs.headerExtension?.data && lhs.payload == rhs.payload
            && lhs.paddingLength == rhs.paddingLength
    }

    /// Why bytes are not an RTP packet; each case names the byte offset where reading failed.
    public enum DecodingError: Error, Equatable, CustomStringConvertible {
        /// Fewer than the 12 bytes of the fixed header.
        case tooShort(length: Int)
        /// The version field is not 2.
        case wrongVersion(Int)
        /// The CSRC list runs past the end.
        case csrcsBeyondEnd(offset: Int)
        /// The header extension runs past the end.
        case extensionBeyondEnd(offset: Int)
        /// The padding count is 0 or larger than what follows the header.
        case badPadding(count: Int, offset: Int)

        public var description: String {
            switch self {
            case .tooShort(let length): "RTP packet of \(length) bytes is shorter than the 12-byte header"
            case .wrongVersion(let version): "RTP version \(version), expected 2"
            case .csrcsBeyondEnd(let offset): "CSRC list runs past the end at byte \(offset)"
            case .extensionBeyondEnd(let offset): "header extension runs past the end at byte \(offset)"
            case .badPadding(let count, let offset): "padding count \(count) at byte \(offset) does not fit the packet"
            }
        }
    }

    /// Decodes a whole packet (a UDP payload).
    public init(bytes: UnsafeRawBufferPointer) throws(DecodingError) {
        let header = try RTPHeader(bytes: bytes)
        marker = header.marker
        payloadType = header.payloadType
        sequenceNumber = header.sequenceNumber
        timestamp = header.timestamp
        ssrc = header.ssrc
        csrcs = (0..<header.csrcCount).map { RTPHeader.word32(bytes, 12 + 4 * $0) }
        if header.hasExtension {
            let start = 12 + 4 * header.csrcCount
            headerExtension = (
                UInt16(bytes[start]) << 8 | UInt16(bytes[start + 1]),
                Array(bytes[(start + 4)..<(header.payloadStart)])
            )
        } else {
            headerExtension = nil
        }
        payload = Array(bytes[header.payloadStart..<header.payloadEnd])
        paddingLength = bytes.count - header.payloadEnd
    }

    public init(bytes: [UInt8]) throws(DecodingError) {
        let result: Result<RTPPacket, DecodingError> = bytes.withUnsafeBytes { raw in
            do throws(DecodingError) { return .success(try RTPPacket(bytes: raw)) } catch { return .failure(error) }
        }
        self = try result.get()
    }

    /// The packet's bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(12 + 4 * csrcs.count + payload.count + paddingLength)
        out.append(
            0x80 | (paddingLength > 0 ? 0x20 : 0) | (headerExtension != nil ? 0x10 : 0) | UInt8(csrcs.count & 0x0F))
        out.append((marker ? 0x80 : 0) | (payloadType & 0x7F))
        out.append(contentsOf: [UInt8(sequenceNumber >> 8), UInt8(sequenceNumber & 0xFF)])
        for word in [timestamp, ssrc] + csrcs {
            out.append(contentsOf: [
                UInt8(word >> 24), UInt8((word >> 16) & 0xFF), UInt8((word >> 8) & 0xFF), UInt8(word & 0xFF),
            ])
        }
        if let headerExtension {
            let words = (headerExtension.data.count + 3) / 4
            out.append(contentsOf: [
                UInt8(headerExtension.profile >> 8), UInt8(headerExtension.profile & 0xFF), UInt8(words >> 8),
                UInt8(words & 0xFF),
            ])
            out.append(contentsOf: headerExtension.data)
            out.append(contentsOf: [UInt8](repeating: 0, count: words * 4 - headerExtension.data.count))
        }
        out.append(contentsOf: payload)
        if paddingLength > 0 {
            out.append(contentsOf: [UInt8](repeating: 0, count: paddingLength - 1))
            out.append(UInt8(paddingLength))
        }
        return out
    }
}

extension RTPPacket {
    /// An SSRC as reports and events write it: `0x1a2b3c4d` (eight hex digits).
    public static func ssrcText(_ ssrc: UInt32) -> String {
        let digits = String(ssrc, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// The fixed header of an RTP packet, validated, without copying anything: what a capture
/// analysis needs at millions of packets per second.
public struct RTPHeader: Sendable, Equatable {
    public var marker: Bool
    public var payloadType: UInt8
    public var sequenceNumber: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32
    public var csrcCount: Int
    public var hasExtension: Bool
    /// Byte range of the payload within the packet.
    public var payloadStart: Int
    public var payloadEnd: Int

    /// `lenient`: a judge's reading, which needs only the fixed 12-byte header: a CSRC list, a
    /// header extension or a padding count that does not fit is ignored, and the payload is
    /// what fits. Captures hold such packets for good reasons: SRTP encrypts the padding count
    /// (the last bytes are the authentication tag), some services encrypt header extensions,
    /// and a snap length may have cut the packet short. Strict (the default) rejects them.
    @inlinable
    public init(bytes: UnsafeRawBufferPointer, lenient: Bool = false) throws(RTPPacket.DecodingError) {
        let count = bytes.count
        guard count >= 12 else { throw .tooShort(length: count) }
        let first = bytes[0]
        guard first >> 6 == 2 else { throw .wrongVersion(Int(first >> 6)) }
        csrcCount = Int(first & 0x0F)
        hasExtension = first & 0x10 != 0
        marker = bytes[1] & 0x80 != 0
        payloadType = bytes[1] & 0x7F
        sequenceNumber = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        timestamp = Self.word32(bytes, 4)
        ssrc = Self.word32(bytes, 8)
        payloadStart = count
        payloadEnd = count
        var offset = 12 + 4 * csrcCount
        guard offset <= count else {
            if lenient { return }
            throw .csrcsBeyondEnd(offset: 12)
        }
        if hasExtension {
            guard offset + 4 <= count else {
                if lenient { return }
                throw .extensionBeyondEnd(offset: offset)
            }
            let words = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            guard offset + 4 + 4 * words <= count else {
                if lenient { return }
                throw .extensionBeyondEnd(offset: offset + 2)
            }
            offset += 4 + 4 * words
        }
        payloadStart = offset
        if first & 0x20 != 0 {
            let padding = Int(bytes[count - 1])
            if padding > 0, padding <= count - offset {
                payloadEnd = count - padding
            } else if !lenient {
                throw .badPadding(count: padding, offset: count - 1)
            }
        }
    }

    @inline(__always) @usableFromInline
    static func word32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }
}

/// Turns 16-bit sequence numbers into a 64-bit count that keeps growing across wrap-around
/// (RFC 3550 appendix A.1): each number is placed in the cycle that puts it closest to the
/// highest one seen, so late and reordered packets land before it, not 65,536 ahead.
public struct SequenceExtender: Sendable {
    private var highest: Int64?

    public init() {}

    public mutating func extend(_ sequence: UInt16) -> Int64 {
        guard let highest else {
            self.highest = Int64(sequence)
            return Int64(sequence)
        }
        let cycle = highest & ~0xFFFF
        var candidate = cycle | Int64(sequence)
        if candidate - highest > 0x8000 {
            candidate -= 0x10000
        } else if highest - candidate > 0x8000 {
            candidate += 0x10000
        }
        if candidate > highest { self.highest = candidate }
        return candidate
    }
}
