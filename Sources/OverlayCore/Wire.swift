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
/// The integer and byte readers are inlinable: every decoder of every module calls them for
/// each field, and a generic call across modules that is not specialized cost the DHT a tenth of
/// its decoding.
public struct WireReader {
    @usableFromInline let bytes: [UInt8]
    @usableFromInline var position = 0

    @inlinable public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Where the next field starts, from the start of the frame.
    @inlinable public var offset: Int { position }

    @inlinable public var isAtEnd: Bool { position == bytes.count }

    @inlinable public mutating func bytes(_ count: Int) throws(WireError) -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - position >= count else { throw .truncated(offset: bytes.count) }
        defer { position += count }
        return bytes[position..<position + count]
    }

    @inlinable public mutating func integer<Integer: FixedWidthInteger & UnsignedInteger>(
        _: Integer.Type = Integer.self
    ) throws(WireError) -> Integer {
        let width = Integer.bitWidth / 8
        guard bytes.count - position >= width else { throw .truncated(offset: bytes.count) }
        var value: Integer = 0
        for index in position..<position + width { value = value << 8 | Integer(bytes[index]) }
        position += width
        return value
    }

    /// A registry epoch (64 bits on the wire), at most `WireBounds.epoch`: far more epochs than
    /// a service will ever go through, and room for every `epoch + 1` and `Int(epoch)` after it.
    public mutating func epoch() throws(WireError) -> UInt64 {
        try bounded("epoch", WireBounds.epoch)
    }

    /// A service state's operation sequence number (64 bits on the wire), at most
    /// `WireBounds.sequence`: room for every `+ 1` a host makes after it.
    public mutating func sequence() throws(WireError) -> UInt64 {
        try bounded("sequence number", WireBounds.sequence)
    }

    private mutating func bounded(_ what: String, _ maximum: UInt64) throws(WireError) -> UInt64 {
        let start = offset
        let value = try integer(UInt64.self)
        guard value <= maximum else { throw .invalid("\(what) \(value) (at most \(maximum))", offset: start) }
        return value
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
    @usableFromInline var buffer: [UInt8] = []

    @inlinable public init() {}

    /// The frame so far.
    @inlinable public var bytes: [UInt8] { buffer }

    @inlinable public mutating func integer<Integer: FixedWidthInteger & UnsignedInteger>(_ value: Integer) {
        for shift in stride(from: Integer.bitWidth - 8, through: 0, by: -8) {
            buffer.append(UInt8(truncatingIfNeeded: value >> shift))
        }
    }

    @inlinable public mutating func append(_ raw: some Sequence<UInt8>) { buffer.append(contentsOf: raw) }

    /// UTF-8 text with a 16-bit length.
    public mutating func text(_ text: String) {
        integer(UInt16(text.utf8.count))
        append(text.utf8)
    }
}

/// The bounds every decoder enforces on numbers a host does arithmetic with.
public enum WireBounds {
    /// A registry epoch (`WireReader.epoch()`).
    public static let epoch: UInt64 = 1 << 48
    /// An operation sequence number (`WireReader.sequence()`).
    public static let sequence: UInt64 = 1 << 62
    /// How many hot standbys a service runs with (a `prepare`'s or a `follow`'s count).
    public static let standbys: UInt8 = 8
    /// The longest lease a stored DHT entry carries (a service's record has 10 s): a longer one
    /// would let a peer fill a node's keys for good.
    public static let lease: Duration = .seconds(3600)
}
