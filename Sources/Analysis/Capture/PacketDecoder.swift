import Foundation

/// An IP address and port, printed `192.0.2.1:5004` or `[2001:db8::1]:5004` (IPv6 in the
/// RFC 5952 form tshark and every other tool print, so figures join with theirs).
public struct Endpoint: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// IPv4 addresses are stored in the low 32 bits of `low` with `high == 0` and `isV6 == false`.
    var high: UInt64
    var low: UInt64
    var isV6: Bool
    public var port: UInt16

    public var description: String { isV6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The address without the port: `192.0.2.1`, `2001:db8::1`.
    public var host: String {
        if !isV6 { return Self.dotted(UInt32(truncatingIfNeeded: low)) }
        let groups = (0..<8).map { index -> UInt16 in
            UInt16(truncatingIfNeeded: (index < 4 ? high : low) >> (48 - 16 * UInt64(index % 4)))
        }
        // An IPv4-mapped address keeps its IPv4 part dotted (RFC 5952, section 5).
        if groups[0..<5].allSatisfy({ $0 == 0 }), groups[5] == 0xFFFF {
            return "::ffff:" + Self.dotted(UInt32(truncatingIfNeeded: low))
        }
        // The longest run of two or more zero groups (the first of equal ones) becomes "::".
        var best: Range<Int>?
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8, groups[end] == 0 { end += 1 }
            if end - index >= 2, end - index > (best?.count ?? 0) { best = index..<end }
            index = end
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard let best else { return hex(0..<8) }
        return hex(0..<best.lowerBound) + "::" + hex(best.upperBound..<8)
    }

    static func dotted(_ a: UInt32) -> String {
        "\(a >> 24).\((a >> 16) & 0xFF).\((a >> 8) & 0xFF).\(a & 0xFF)"
    }

    /// Parses `192.0.2.1` or `2001:db8::1` (port 0); nil for anything else.
    static func parseAddress(_ text: String) -> (high: UInt64, low: UInt64, isV6: Bool)? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return (0, UInt64(UInt32(bigEndian: v4.s_addr)), false)
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (high, low, true)
    }

    public static func < (lhs: Endpoint, rhs: Endpoint) -> Bool {
        (lhs.isV6 ? 1 : 0, lhs.high, lhs.low, lhs.port) < (rhs.isV6 ? 1 : 0, rhs.high, rhs.low, rhs.port)
    }
}

/// A transport segment found in a captured frame.
struct Segment {
    enum Transport { case udp, tcp }
    var transport: Transport
    var source: Endpoint
    var destination: Endpoint
    var payload: UnsafeRawBufferPointer
}

/// What a frame turned out to be.
enum DecodedFrame {
    case segment(Segment)
    /// Valid, but not UDP or TCP over IP (ARP, ICMP, a later IP fragment): counted as other.
    case other
    /// Cut short or inconsistent headers: counted as malformed, never a crash.
    case malformed
}

/// Link types the reader understands (the pcap LINKTYPE_ values).
public enum LinkType: UInt32, Sendable {
    case null = 0, ethernet = 1, raw = 101, loop = 108, linuxCooked = 113, ipv4 = 228, ipv6 = 229, linuxCooked2 = 276

    public var name: String {
        switch self {
        case .null: "BSD loopback"
        case .ethernet: "Ethernet"
        case .raw: "raw IP"
        case .loop: "OpenBSD loopback"
        case .linuxCooked: "Linux cooked (SLL)"
        case .ipv4: "raw IPv4"
        case .ipv6: "raw IPv6"
        case .linuxCooked2: "Linux cooked v2 (SLL2)"
        }
    }
}

enum PacketDecoder {
    static func decode(_ frame: UnsafeRawBufferPointer, linkType: LinkType) -> DecodedFrame {
        let count = frame.count
        var offset = 0
        var etherType: UInt16?
        switch linkType {
        case .ethernet:
            guard count >= 14 else { return .malformed }
            etherType = be16(frame, 12)
            offset = 14
            while etherType == 0x8100 || etherType == 0x88A8 {  // VLAN tags
                guard count >= offset + 4 else { return .malformed }
                etherType = be16(frame, offset + 2)
                offset += 4
            }
        case .linuxCooked:
            guard count >= 16 else { return .malformed }
            etherType = be16(frame, 14)
            offset = 16
        case .linuxCooked2:
            guard count >= 20 else { return .malformed }
            etherType = be16(frame, 0)
            offset = 20
        case .null, .loop:
            guard count >= 4 else { return .malformed }
            // The address family: host order for NULL (either, in practice), network for LOOP.
            let family = frame.loadUnaligned(as: UInt32.self)
            let value = linkType == .loop ? UInt32(bigEndian: family) : (family > 0xFFFF ? family.byteSwapped : family)
            switch value {
            case 2: etherType = 0x0800
            case 10, 24, 28, 30: etherType = 0x86DD
            default: return .other
            }
            offset = 4
        case .raw, .ipv4, .ipv6:
            guard count >= 1 else { return .malformed }
            etherType = frame[0] >> 4 == 6 ? 0x86DD : 0x0800
        }
        let ip = UnsafeRawBufferPointer(rebasing: frame[offset...])
        switch etherType {
        case 0x0800: return ipv4(ip)
        case 0x86DD: return ipv6(ip)
        default: return .other
        }
    }

    static func ipv4(_ packet: UnsafeRawBufferPointer) -> DecodedFrame {
        guard packet.count >= 20, packet[0] >> 4 == 4 else { return .malformed }
        let headerLength = Int(packet[0] & 0x0F) * 4
        let totalLength = Int(be16(packet, 2))
        guard headerLength >= 20, totalLength >= headerLength, totalLength <= packet.count else { return .malformed }
        // Only the first fragment carries the transport header.
        guard be16(packet, 6) & 0x1FFF == 0 else { return .other }
        let source = Endpoint(high: 0, low: UInt64(be32(packet, 12)), isV6: false, port: 0)
        let destination = Endpoint(high: 0, low: UInt64(be32(packet, 16)), isV6: false, port: 0)
        return transport(
            packet[9], UnsafeRawBufferPointer(rebasing: packet[headerLength..<totalLength]), source, destination)
    }

    static func ipv6(_ packet: UnsafeRawBufferPointer) -> DecodedFrame {
        guard packet.count >= 40, packet[0] >> 4 == 6 else { return .malformed }
        let payloadLength = Int(be16(packet, 4))
        guard 40 + payloadLength <= packet.count else { return .malformed }
        var next = packet[6]
        var offset = 40
        let end = 40 + payloadLength
        // Hop-by-hop, routing and destination options headers; a fragment header ends it.
        while next == 0 || next == 43 || next == 60 {
            guard offset + 8 <= end else { return .malformed }
            next = packet[offset]
            offset += 8 + Int(packet[offset + 1]) * 8
        }
        guard offset <= end else { return .malformed }
        let source = Endpoint(high: be64(packet, 8), low: be64(packet, 16), isV6: true, port: 0)
        let destination = Endpoint(high: be64(packet, 24), low: be64(packet, 32), isV6: true, port: 0)
        return transport(next, UnsafeRawBufferPointer(rebasing: packet[offset..<end]), source, destination)
    }

    static func transport(
        _ protocolNumber: UInt8, _ data: UnsafeRawBufferPointer, _ source: Endpoint, _ destination: Endpoint
    ) -> DecodedFrame {
        var source = source
        var destination = destination
        switch protocolNumber {
        case 17:
            guard data.count >= 8 else { return .malformed }
            let length = Int(be16(data, 4))
            guard length >= 8, length <= data.count else { return .malformed }
            source.port = be16(data, 0)
            destination.port = be16(data, 2)
            return .segment(
                Segment(
                    transport: .udp, source: source, destination: destination,
                    payload: UnsafeRawBufferPointer(rebasing: data[8..<length])))
        case 6:
            guard data.count >= 20 else { return .malformed }
            let headerLength = Int(data[12] >> 4) * 4
            guard headerLength >= 20, headerLength <= data.count else { return .malformed }
            source.port = be16(data, 0)
            destination.port = be16(data, 2)
            return .segment(
                Segment(
                    transport: .tcp, source: source, destination: destination,
                    payload: UnsafeRawBufferPointer(rebasing: data[headerLength...])))
        default:
            return .other
        }
    }

    @inline(__always) static func be16(_ b: UnsafeRawBufferPointer, _ o: Int) -> UInt16 {
        UInt16(b[o]) << 8 | UInt16(b[o + 1])
    }
    @inline(__always) static func be32(_ b: UnsafeRawBufferPointer, _ o: Int) -> UInt32 {
        UInt32(be16(b, o)) << 16 | UInt32(be16(b, o + 2))
    }
    @inline(__always) static func be64(_ b: UnsafeRawBufferPointer, _ o: Int) -> UInt64 {
        UInt64(be32(b, o)) << 32 | UInt64(be32(b, o + 4))
    }
}
