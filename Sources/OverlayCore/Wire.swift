// The overlay's wire format: why bytes are not a message, and the reader and writer every
// binary decoder and encoder of the overlay (DHT, registry, services) is built on.

/// Why bytes are not a message. Every decoder in the overlay throws one of these, with the
/// offset (from the start of the frame) where it gave up.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(offset: Int)
    case unsupportedVersion(UInt8)
    case unknownType(UInt8, offset: Int)
    case invalid(String, offset: Int)
    case trailingBytes(offset: Int)

    public var description: String {
        switch self {
        case .truncated(let offset): "truncated at byte \(offset)"
        case .unsupportedVersion(let version): "unsupported wire version \(version)"
        case .unknownType(let type, let offset): "unknown message type \(type) at byte \(offset)"
        case .invalid(let reason, let offset): "\(reason) at byte \(offset)"
        case .trailingBytes(let offset): "unexpected bytes after the message, from byte \(offset)"
        }
    }
}

/// Reads big-endian fields from a frame, throwing `WireError` instead of reading past its end.
public struct WireReader {
    let bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func bytes(_ count: Int) throws(WireError) -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - offset >= count else { throw .truncated(offset: bytes.count) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    public mutating func integer<Integer: FixedWidthInteger & UnsignedInteger>(
        _: Integer.Type = Integer.self
    ) throws(WireError) -> Integer {
        try bytes(Integer.bitWidth / 8).reduce(0) { $0 << 8 | Integer($1) }
    }

    /// UTF-8 text with a 16-bit length, at most `limit` bytes.
    public mutating func text(limit: Int) throws(WireError) -> String {
        let start = offset
        let length = Int(try integer(UInt16.self))
        guard length <= limit else { throw .invalid("text of \(length) bytes (limit \(limit))", offset: start) }
        let raw = try bytes(length)
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalid("text not UTF-8", offset: start) }
        return text
    }

    /// Reads the version byte a format starts with; any other version than `expected` throws.
    public mutating func version(_ expected: UInt8) throws(WireError) {
        let version = try integer(UInt8.self)
        guard version == expected else { throw .unsupportedVersion(version) }
    }

    /// Reads the two bytes a datagram format starts with (`magic`, which tells it from the other
    /// datagrams on a socket) and its version byte: other bytes throw `invalid` naming `format`.
    public mutating func magic(_ magic: (UInt8, UInt8), version expected: UInt8, of format: String) throws(WireError) {
        let start = offset
        let head = try bytes(2)
        guard head.first == magic.0, head.last == magic.1 else { throw .invalid("not \(format)", offset: start) }
        try version(expected)
    }

    /// Throws unless every byte was read.
    public func finish() throws(WireError) {
        guard isAtEnd else { throw .trailingBytes(offset: offset) }
    }
}

/// Appends big-endian fields to a frame.
public struct WireWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func integer<Integer: FixedWidthInteger & UnsignedInteger>(_ value: Integer) {
        for shift in stride(from: Integer.bitWidth - 8, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> shift))
        }
    }

    public mutating func append(_ raw: some Sequence<UInt8>) { bytes.append(contentsOf: raw) }

    /// UTF-8 text with a 16-bit length.
    public mutating func text(_ text: String) {
        integer(UInt16(text.utf8.count))
        append(text.utf8)
    }
}
