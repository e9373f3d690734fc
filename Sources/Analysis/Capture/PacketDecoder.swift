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
    /// The captured payload: shorter than on the wire when the snap length cut the frame.
    var payload: UnsafeRawBufferPointer
    /// The payload's length on the wire (UDP's length field; for TCP, what was captured).
    var wireLength: Int

    var truncated: Bool { payload.count < wireLength }
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
public enum LinkType: UInt32, Sendable, CaseIterable {
    case null = 0, ethernet = 1, ppp = 9, pppHDLC = 50, raw = 101, loop = 108, linuxCooked = 113, ppi = 192
    case ipv4 = 228, ipv6 = 229, linuxCooked2 = 276

    public var name: String {
        switch self {
        case .null: "BSD loopback"
        case .ethernet: "Ethernet"
        case .ppp: "PPP"
        case .pppHDLC: "PPP in HDLC framing"
        case .raw: "raw IP"
        case .loop: "OpenBSD loopback"
        case .linuxCooked: "Linux cooked (SLL)"
        case .ppi: "PPI"
        case .ipv4: "raw IPv4"
        case .ipv6: "raw IPv6"
        case .linuxCooked2: "Linux cooked v2 (SLL2)"
        }
    }
}

/// Link layer, IP and transport headers of one captured frame, down to the UDP or TCP
/// segment, through VLAN tags, PPI headers and tunnels (IP in IP, GTP-U) as tshark follows
/// them. Lengths a header states must agree with what was captured, unless the snap length
/// cut the frame: then what was captured is used.
enum PacketDecoder {
    /// Tunnels inside tunnels, at most.
    static let maximumDepth = 4
    /// GTP-U's UDP port (3GPP TS 29.281).
    static let gtpUserPort: UInt16 = 2152

    /// `truncated`: the frame's original length exceeds what was captured.
    static func decode(_ frame: UnsafeRawBufferPointer, linkType: LinkType, truncated: Bool = false, depth: Int = 0)
        -> DecodedFrame
    {
        let count = frame.count
        var offset = 0
        var etherType: UInt16
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
        case .ppp, .pppHDLC:
            // Address and control (0xFF 0x03) may be left out, and the protocol compressed to
            // one byte (RFC 1661, 6.5 and 6.6).
            guard count >= 2 else { return .malformed }
            if frame[0] == 0xFF, frame[1] == 0x03 { offset = 2 }
            guard count > offset else { return .malformed }
            let protocolNumber: UInt16
            if frame[offset] & 1 == 1 {
                protocolNumber = UInt16(frame[offset])
                offset += 1
            } else {
                guard count >= offset + 2 else { return .malformed }
                protocolNumber = be16(frame, offset)
                offset += 2
            }
            switch protocolNumber {
            case 0x21: etherType = 0x0800
            case 0x57: etherType = 0x86DD
            default: return .other
            }
        case .ppi:
            // Version, flags, header length and the inner link type, little-endian.
            guard count >= 8, depth < maximumDepth else { return .malformed }
            let length = Int(frame[2]) | Int(frame[3]) << 8
            let inner = UInt32(frame[4]) | UInt32(frame[5]) << 8 | UInt32(frame[6]) << 16 | UInt32(frame[7]) << 24
            guard length >= 8, length <= count else { return .malformed }
            guard let innerType = LinkType(rawValue: inner) else { return .other }
            return decode(
                UnsafeRawBufferPointer(rebasing: frame[length...]), linkType: innerType, truncated: truncated,
                depth: depth + 1)
        case .raw, .ipv4, .ipv6:
            guard count >= 1 else { return .malformed }
            etherType = frame[0] >> 4 == 6 ? 0x86DD : 0x0800
        }
        return network(
            etherType, UnsafeRawBufferPointer(rebasing: frame[offset...]), truncated: truncated, depth: depth)
    }

    static func network(_ etherType: UInt16, _ packet: UnsafeRawBufferPointer, truncated: Bool, depth: Int)
        -> DecodedFrame
    {
        switch etherType {
        case 0x0800: ipv4(packet, truncated: truncated, depth: depth)
        case 0x86DD: ipv6(packet, truncated: truncated, depth: depth)
        default: .other
        }
    }

    static func ipv4(_ packet: UnsafeRawBufferPointer, truncated: Bool, depth: Int) -> DecodedFrame {
        guard packet.count >= 20, packet[0] >> 4 == 4 else { return .malformed }
        let headerLength = Int(packet[0] & 0x0F) * 4
        let totalLength = Int(be16(packet, 2))
        guard headerLength >= 20, totalLength >= headerLength, headerLength <= packet.count,
            totalLength <= packet.count || truncated
        else { return .malformed }
        // Only the first fragment carries the transport header.
        guard be16(packet, 6) & 0x1FFF == 0 else { return .other }
        let source = Endpoint(high: 0, low: UInt64(be32(packet, 12)), isV6: false, port: 0)
        let destination = Endpoint(high: 0, low: UInt64(be32(packet, 16)), isV6: false, port: 0)
        let end = min(totalLength, packet.count)
        return transport(
            packet[9], UnsafeRawBufferPointer(rebasing: packet[headerLength..<end]),
            wireLength: totalLength - headerLength, source, destination, truncated: truncated, depth: depth)
    }

    static func ipv6(_ packet: UnsafeRawBufferPointer, truncated: Bool, depth: Int) -> DecodedFrame {
        guard packet.count >= 40, packet[0] >> 4 == 6 else { return .malformed }
        let payloadLength = Int(be16(packet, 4))
        guard 40 + payloadLength <= packet.count || truncated else { return .malformed }
        var next = packet[6]
        var offset = 40
        let end = min(40 + payloadLength, packet.count)
        // Hop-by-hop, routing and destination options headers; a fragment header ends it.
        while next == 0 || next == 43 || next == 60 {
            guard offset + 8 <= end else { return .malformed }
            next = packet[offset]
            offset += 8 + Int(packet[offset + 1]) * 8
        }
        guard offset <= end else { return .malformed }
        let source = Endpoint(high: be64(packet, 8), low: be64(packet, 16), isV6: true, port: 0)
        let destination = Endpoint(high: be64(packet, 24), low: be64(packet, 32), isV6: true, port: 0)
        return transport(
            next, UnsafeRawBufferPointer(rebasing: packet[offset..<end]), wireLength: 40 + payloadLength - offset,
            source, destination, truncated: truncated, depth: depth)
    }

    static func transport(
        _ protocolNumber: UInt8, _ data: UnsafeRawBufferPointer, wireLength: Int, _ source: Endpoint,
        _ destination: Endpoint, truncated: Bool, depth: Int
    ) -> DecodedFrame {
        var source = source
        var destination = destination
        switch protocolNumber {
        case 17:
            guard data.count >= 8 else { return .malformed }
            let length = Int(be16(data, 4))
            guard length >= 8, length <= data.count || truncated else { return .malformed }
            source.port = be16(data, 0)
            destination.port = be16(data, 2)
            let payload = UnsafeRawBufferPointer(rebasing: data[8..<min(length, data.count)])
            if source.port == gtpUserPort || destination.port == gtpUserPort, depth < maximumDepth,
                let inner = gtp(payload, truncated: truncated, depth: depth + 1)
            {
                return inner
            }
            return .segment(
                Segment(
                    transport: .udp, source: source, destination: destination, payload: payload,
                    wireLength: length - 8))
        case 6:
            guard data.count >= 20 else { return .malformed }
            let headerLength = Int(data[12] >> 4) * 4
            guard headerLength >= 20, headerLength <= data.count else { return .malformed }
            source.port = be16(data, 0)
            destination.port = be16(data, 2)
            let payload = UnsafeRawBufferPointer(rebasing: data[headerLength...])
            return .segment(
                Segment(
                    transport: .tcp, source: source, destination: destination, payload: payload,
                    wireLength: payload.count))
        case 4 where depth < maximumDepth:  // IPv4 in IP
            return ipv4(data, truncated: truncated, depth: depth + 1)
        case 41 where depth < maximumDepth:  // IPv6 in IP
            return ipv6(data, truncated: truncated, depth: depth + 1)
        default:
            return .other
        }
    }

    /// The IP packet a GTP-U G-PDU carries (3GPP TS 29.281, 5.1), or nil when the datagram is
    /// not one (signalling, echo), so it counts as the UDP datagram it is.
    static func gtp(_ payload: UnsafeRawBufferPointer, truncated: Bool, depth: Int) -> DecodedFrame? {
        guard payload.count >= 8, payload[0] >> 5 == 1, payload[0] & 0x10 != 0, payload[1] == 0xFF else { return nil }
        var offset = 8
        if payload[0] & 0x07 != 0 {  // sequence number, N-PDU number, next extension type
            guard payload.count >= 12 else { return .malformed }
            var next = payload[11]
            offset = 12
            while next != 0 {  // extension headers: a length in 4-byte units, the next type last
                guard offset < payload.count else { return .malformed }
                let length = Int(payload[offset]) * 4
                guard length > 0, offset + length <= payload.count else { return .malformed }
                next = payload[offset + length - 1]
                offset += length
            }
        }
        guard offset < payload.count else { return .malformed }
        let inner = UnsafeRawBufferPointer(rebasing: payload[offset...])
        return network(inner[0] >> 4 == 6 ? 0x86DD : 0x0800, inner, truncated: truncated, depth: depth)
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
