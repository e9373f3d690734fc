import Foundation

/// Writes pcap files byte by byte for tests: every link type the analysis reads, IPv4 and
/// IPv6, UDP and TCP, either byte order, micro- or nanosecond timestamps.
public struct PcapBuilder {
    public enum Link: UInt32, Sendable {
        case null = 0, ethernet = 1, raw = 101, loop = 108, linuxCooked = 113, linuxCooked2 = 276
    }

    public let link: Link
    public private(set) var bytes: [UInt8] = []
    private let bigEndian: Bool
    private let nanoseconds: Bool

    public init(link: Link, bigEndian: Bool = false, nanoseconds: Bool = false, linkTypeValue: UInt32? = nil) {
        self.link = link
        self.bigEndian = bigEndian
        self.nanoseconds = nanoseconds
        word(nanoseconds ? 0xA1B2_3C4D : 0xA1B2_C3D4)
        half(2)
        half(4)
        word(0)
        word(0)
        word(65535)
        word(linkTypeValue ?? link.rawValue)
    }

    private mutating func word(_ value: UInt32) {
        let ordered = bigEndian ? value.bigEndian : value.littleEndian
        withUnsafeBytes(of: ordered) { bytes.append(contentsOf: $0) }
    }

    private mutating func half(_ value: UInt16) {
        let ordered = bigEndian ? value.bigEndian : value.littleEndian
        withUnsafeBytes(of: ordered) { bytes.append(contentsOf: $0) }
    }

    /// Appends one record holding `frame` (already link-framed).
    public mutating func record(microseconds: Int64, frame: [UInt8], originalLength: Int? = nil) {
        word(UInt32(microseconds / 1_000_000))
        word(UInt32(microseconds % 1_000_000 * (nanoseconds ? 1000 : 1)))
        word(UInt32(frame.count))
        word(UInt32(originalLength ?? frame.count))
        bytes.append(contentsOf: frame)
    }

    /// Appends a UDP datagram from `source` to `destination` (`"127.0.0.1"`, `"::1"`).
    public mutating func udp(
        at microseconds: Int64, from source: (String, UInt16), to destination: (String, UInt16), payload: [UInt8]
    ) {
        var segment = be16(source.1) + be16(destination.1) + be16(UInt16(8 + payload.count)) + [0, 0]
        segment += payload
        record(
            microseconds: microseconds,
            frame: frame(ip(17, source.0, destination.0, segment), v6: source.0.contains(":")))
    }

    /// Appends a TCP segment (header without options) carrying `payload`.
    public mutating func tcp(
        at microseconds: Int64, from source: (String, UInt16), to destination: (String, UInt16), payload: [UInt8]
    ) {
        var segment =
            be16(source.1) + be16(destination.1) + [0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]
        segment += payload
        record(
            microseconds: microseconds,
            frame: frame(ip(6, source.0, destination.0, segment), v6: source.0.contains(":")))
    }

    /// An IP packet around a transport segment.
    public func ip(_ protocolNumber: UInt8, _ source: String, _ destination: String, _ segment: [UInt8]) -> [UInt8] {
        if source.contains(":") {
            return [0x60, 0, 0, 0] + be16(UInt16(segment.count)) + [protocolNumber, 64] + address6(source)
                + address6(destination) + segment
        }
        return [0x45, 0] + be16(UInt16(20 + segment.count)) + [0, 0, 0x40, 0, 64, protocolNumber, 0, 0]
            + address4(source) + address4(destination) + segment
    }

    /// The link-layer framing of this builder's link type around an IP packet.
    public func frame(_ packet: [UInt8], v6: Bool) -> [UInt8] {
        let etherType: [UInt8] = v6 ? [0x86, 0xDD] : [0x08, 0x00]
        switch link {
        case .ethernet: return [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2] + etherType + packet
        case .linuxCooked: return [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0] + etherType + packet
        case .linuxCooked2: return etherType + [0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0] + packet
        case .raw: return packet
        case .null:
            let family: UInt32 = v6 ? 10 : 2
            return withUnsafeBytes(of: family.littleEndian) { Array($0) } + packet
        case .loop:
            let family: UInt32 = v6 ? 24 : 2
            return withUnsafeBytes(of: family.bigEndian) { Array($0) } + packet
        }
    }

    func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    func address4(_ text: String) -> [UInt8] {
        var address = in_addr()
        precondition(inet_pton(AF_INET, text, &address) == 1, "bad IPv4 address \(text)")
        return withUnsafeBytes(of: address) { Array($0) }
    }

    func address6(_ text: String) -> [UInt8] {
        var address = in6_addr()
        precondition(inet_pton(AF_INET6, text, &address) == 1, "bad IPv6 address \(text)")
        return withUnsafeBytes(of: address) { Array($0) }
    }
}

/// An RTP packet's bytes, for crafted captures (version 2, no CSRCs).
public func rtpBytes(
    sequence: UInt16, timestamp: UInt32, ssrc: UInt32, payloadType: UInt8 = 97, marker: Bool = false,
    payload: [UInt8] = [0xAB, 0xCD]
)
    -> [UInt8]
{
    [0x80, (marker ? 0x80 : 0) | payloadType & 0x7F, UInt8(sequence >> 8), UInt8(sequence & 0xFF)]
        + [24, 16, 8, 0].map { UInt8((timestamp >> $0) & 0xFF) } + [24, 16, 8, 0].map { UInt8((ssrc >> $0) & 0xFF) }
        + payload
}
