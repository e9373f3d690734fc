/// The classic pcap file format (what tcpdump writes and Wireshark opens): a 24-byte file
/// header, then records of a 16-byte header and the captured bytes. Both byte orders, micro-
/// and nanosecond timestamps. pcapng files are read by `PcapNGReader` behind the same API.
public struct PcapFormat: Sendable, Equatable {
    public var linkType: UInt32
    public var nanosecondTimestamps: Bool
    public var swapped: Bool
    public var snapLength: UInt32
}

/// One captured packet, borrowed from the file's bytes.
public struct PcapRecord {
    /// Capture time in microseconds since the Unix epoch.
    public var microseconds: Int64
    public var data: UnsafeRawBufferPointer
    /// The packet's length on the wire (may exceed `data.count` when the snap length cut it).
    public var originalLength: Int
    /// The link type of the interface it was captured on.
    public var linkType: UInt32
}

/// What a capture's records are handed to, one by one and in file order
/// (`PcapReader.read(_:into:)`): a value the reading mutates in place, so the per-packet path
/// has no closure context and no boxed captures.
public protocol PcapRecordVisitor {
    mutating func visit(_ record: PcapRecord)
}

/// Visits nothing: for reading a file's format alone.
struct IgnoringVisitor: PcapRecordVisitor {
    func visit(_ record: PcapRecord) {}
}

/// Why a file is not (or stops being) a readable pcap; every case names a byte offset.
public enum PcapError: Error, Equatable, CustomStringConvertible {
    /// The file is shorter than the 24-byte file header.
    case truncatedFileHeader(length: Int)
    /// The first four bytes are not a pcap magic number.
    case notAPcap(magic: UInt32)
    /// A record header is cut off by the end of the file.
    case truncatedRecordHeader(offset: Int)
    /// A record's data is cut off by the end of the file.
    case truncatedRecord(offset: Int, length: Int, available: Int)
    /// A record claims more bytes than any capture could hold: the file is corrupt there.
    case recordTooLong(offset: Int, length: Int)

    public var description: String {
        switch self {
        case .truncatedFileHeader(let length): "not a pcap file: only \(length) bytes, a pcap header has 24"
        case .notAPcap(let magic):
            "not a pcap file: magic number 0x\(String(magic, radix: 16)) at byte 0"
        case .truncatedRecordHeader(let offset): "truncated record header at byte \(offset)"
        case .truncatedRecord(let offset, let length, let available):
            "truncated record at byte \(offset): \(length) bytes announced, \(available) left"
        case .recordTooLong(let offset, let length): "corrupt record at byte \(offset): length \(length)"
        }
    }
}

public enum PcapReader {
    /// The largest record length taken as real; larger ones mean a corrupt file.
    static let maximumRecordLength = 262_144
    /// Capture times are held within ±2^62 µs (±146,000 years), so the difference of any two
    /// never overflows, whatever a file's clock says.
    static let timeLimit: Int64 = 1 << 62

    static func clamp(_ microseconds: Int64) -> Int64 { min(max(microseconds, -timeLimit), timeLimit) }

    /// Reads the file header.
    public static func format(of bytes: UnsafeRawBufferPointer) throws(PcapError) -> PcapFormat {
        guard bytes.count >= 24 else { throw .truncatedFileHeader(length: bytes.count) }
        let magic = bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        let format: PcapFormat
        switch magic {
        case 0xA1B2_C3D4, 0xD4C3_B2A1, 0xA1B2_3C4D, 0x4D3C_B2A1:
            let swapped = magic == 0xD4C3_B2A1 || magic == 0x4D3C_B2A1
            let nanoseconds = magic == 0xA1B2_3C4D || magic == 0x4D3C_B2A1
            format = PcapFormat(
                linkType: word(bytes, 20, swapped) & 0x0FFF_FFFF, nanosecondTimestamps: nanoseconds, swapped: swapped,
                snapLength: word(bytes, 16, swapped))
        case 0x0A0D_0D0A:
            var ignored = IgnoringVisitor()
            return try PcapNGReader.read(bytes, formatOnly: true, into: &ignored).format
        default:
            throw .notAPcap(magic: UInt32(bigEndian: magic))
        }
        return format
    }

    /// Reads every record in order and hands it to `visitor`. A bad file header throws; a bad
    /// record ends the reading and is returned, after every record before it was visited, so a
    /// truncated capture still yields its packets.
    public static func read<Visitor: PcapRecordVisitor>(
        _ bytes: UnsafeRawBufferPointer, into visitor: inout Visitor
    ) throws(PcapError) -> (format: PcapFormat, stoppedBy: PcapError?) {
        if bytes.count >= 4, bytes.loadUnaligned(as: UInt32.self) == 0x0A0D_0D0A {
            return try PcapNGReader.read(bytes, into: &visitor)
        }
        let format = try format(of: bytes)
        var offset = 24
        let limit = max(Int(format.snapLength), maximumRecordLength)
        while offset < bytes.count {
            guard offset + 16 <= bytes.count else { return (format, .truncatedRecordHeader(offset: offset)) }
            let seconds = Int64(word(bytes, offset, format.swapped))
            let fraction = Int64(word(bytes, offset + 4, format.swapped))
            let length = Int(word(bytes, offset + 8, format.swapped))
            let original = Int(word(bytes, offset + 12, format.swapped))
            guard length <= limit else { return (format, .recordTooLong(offset: offset, length: length)) }
            guard offset + 16 + length <= bytes.count else {
                return (format, .truncatedRecord(offset: offset, length: length, available: bytes.count - offset - 16))
            }
            let microseconds = seconds * 1_000_000 + (format.nanosecondTimestamps ? fraction / 1000 : fraction)
            visitor.visit(
                PcapRecord(
                    microseconds: microseconds,
                    data: UnsafeRawBufferPointer(rebasing: bytes[(offset + 16)..<(offset + 16 + length)]),
                    originalLength: original, linkType: format.linkType))
            offset += 16 + length
        }
        return (format, nil)
    }

    @inline(__always)
    static func word(_ bytes: UnsafeRawBufferPointer, _ offset: Int, _ swapped: Bool) -> UInt32 {
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return swapped ? value.byteSwapped : value
    }
}
