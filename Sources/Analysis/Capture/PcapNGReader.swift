/// pcapng (Wireshark's default format): blocks of [type, length, body, length]. Reads the
/// section header (byte order), interface descriptions (link type, timestamp resolution) and
/// enhanced and simple packet blocks; skips every other block.
enum PcapNGReader {
    struct Interface {
        var linkType: UInt32
        /// Timestamp resolution (`if_tsresol`): units are 10^-exponent or 2^-exponent seconds.
        var resolution = (base: UInt64(10), exponent: 6)
        /// Seconds added to every timestamp (`if_tsoffset`).
        var offsetSeconds: Int64 = 0
        var snapLength: Int

        /// Nanoseconds or finer.
        var isFinerThanMicroseconds: Bool {
            resolution.base == 10 ? resolution.exponent > 6 : resolution.exponent > 19
        }

        /// A timestamp in this interface's units as Unix microseconds, held within
        /// `PcapReader.timeLimit`: whatever resolution, offset and value a file states, the
        /// arithmetic cannot trap.
        func microseconds(units: UInt64) -> Int64 {
            let micros: Int64
            if resolution.base == 10, resolution.exponent <= 6 {
                var scale: UInt64 = 1
                for _ in 0..<(6 - resolution.exponent) { scale *= 10 }
                let (value, overflow) = units.multipliedReportingOverflow(by: scale)
                micros = overflow || value > UInt64(PcapReader.timeLimit) ? PcapReader.timeLimit : Int64(value)
            } else if let perSecond = unitsPerSecond {
                // units * 10^6 / perSecond, exactly, in 128 bits.
                let wide = units.multipliedFullWidth(by: 1_000_000)
                if wide.high >= perSecond {
                    micros = PcapReader.timeLimit
                } else {
                    let quotient = perSecond.dividingFullWidth(wide).quotient
                    micros = quotient > UInt64(PcapReader.timeLimit) ? PcapReader.timeLimit : Int64(quotient)
                }
            } else {
                micros = 0  // units finer than 2^-64 s: every 64-bit value is less than a microsecond
            }
            let (offset, overflow) = offsetSeconds.multipliedReportingOverflow(by: 1_000_000)
            return PcapReader.clamp(overflow ? (offsetSeconds > 0 ? .max : .min) : micros.saturatingAdd(offset))
        }

        /// Units per second when they fit in 64 bits.
        private var unitsPerSecond: UInt64? {
            var value: UInt64 = 1
            for _ in 0..<resolution.exponent {
                let (next, overflow) = value.multipliedReportingOverflow(by: resolution.base)
                if overflow { return nil }
                value = next
            }
            return value
        }
    }

    /// Reads every block and hands each packet to `visitor`; with `formatOnly`, stops at the
    /// first interface description, which gives the format.
    static func read<Visitor: PcapRecordVisitor>(
        _ bytes: UnsafeRawBufferPointer, formatOnly: Bool = false, into visitor: inout Visitor
    ) throws(PcapError) -> (format: PcapFormat, stoppedBy: PcapError?) {
        var swapped = false
        var interfaces: [Interface] = []
        var format: PcapFormat?
        var offset = 0
        func word(_ at: Int) -> UInt32 { PcapReader.word(bytes, at, swapped) }
        func half(_ at: Int) -> UInt16 {
            let value = bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)
            return swapped ? value.byteSwapped : value
        }
        while offset < bytes.count {
            guard offset + 12 <= bytes.count else {
                return try finish(format, .truncatedRecordHeader(offset: offset))
            }
            let type = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            if type == 0x0A0D_0D0A {  // section header: its byte-order magic sets the order
                let magic = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
                guard magic == 0x1A2B_3C4D || magic == 0x4D3C_2B1A else {
                    return try finish(format, .recordTooLong(offset: offset, length: 0))
                }
                swapped = magic == 0x4D3C_2B1A
                interfaces = []
            }
            let length = Int(word(offset + 4))
            guard length >= 12, length % 4 == 0, length <= PcapReader.maximumRecordLength + 64 else {
                return try finish(format, .recordTooLong(offset: offset, length: length))
            }
            guard offset + length <= bytes.count else {
                return try finish(
                    format, .truncatedRecord(offset: offset, length: length, available: bytes.count - offset))
            }
            let body = offset + 8
            let end = offset + length - 4
            switch word(offset) {
            case 0x0000_0001:  // interface description
                guard end - body >= 8 else { return try finish(format, .recordTooLong(offset: offset, length: length)) }
                var interface = Interface(linkType: UInt32(half(body)), snapLength: Int(word(body + 4)))
                // Options: code, length, value padded to 4; if_tsresol is code 9, if_tsoffset 14.
                var option = body + 8
                while option + 4 <= end {
                    let code = half(option)
                    let size = Int(half(option + 2))
                    if code == 0 { break }
                    if code == 9, size >= 1, option + 4 < end {
                        let resolution = bytes[option + 4]
                        interface.resolution = (resolution & 0x80 == 0 ? 10 : 2, Int(resolution & 0x7F))
                    }
                    if code == 14, size == 8, option + 12 <= end {
                        let high = UInt64(word(option + 4))
                        let low = UInt64(word(option + 8))
                        interface.offsetSeconds = Int64(bitPattern: swapped ? high << 32 | low : low << 32 | high)
                    }
                    option += 4 + (size + 3) / 4 * 4
                }
                interfaces.append(interface)
                if format == nil {
                    format = PcapFormat(
                        linkType: interface.linkType, nanosecondTimestamps: interface.isFinerThanMicroseconds,
                        swapped: swapped, snapLength: UInt32(truncatingIfNeeded: interface.snapLength))
                }
                if formatOnly { return try finish(format, nil) }
            case 0x0000_0006:  // enhanced packet
                guard end - body >= 20 else {
                    return try finish(format, .recordTooLong(offset: offset, length: length))
                }
                let id = Int(word(body))
                guard id < interfaces.count else {
                    return try finish(format, .recordTooLong(offset: offset, length: length))
                }
                let interface = interfaces[id]
                let captured = Int(word(body + 12))
                guard body + 20 + captured <= end else {
                    return try finish(
                        format, .truncatedRecord(offset: offset, length: captured, available: end - body - 20))
                }
                let units = UInt64(word(body + 4)) << 32 | UInt64(word(body + 8))
                visitor.visit(
                    PcapRecord(
                        microseconds: interface.microseconds(units: units),
                        data: UnsafeRawBufferPointer(rebasing: bytes[(body + 20)..<(body + 20 + captured)]),
                        originalLength: Int(word(body + 16)), linkType: interface.linkType))
            case 0x0000_0003:  // simple packet: no timestamp, first interface
                guard let interface = interfaces.first, end - body >= 4 else { break }
                let original = Int(word(body))
                let captured = min(original, end - body - 4, interface.snapLength > 0 ? interface.snapLength : Int.max)
                visitor.visit(
                    PcapRecord(
                        microseconds: 0,
                        data: UnsafeRawBufferPointer(rebasing: bytes[(body + 4)..<(body + 4 + captured)]),
                        originalLength: original, linkType: interface.linkType))
            default:
                break
            }
            offset += length
        }
        return try finish(format, nil)
    }

    /// A file with no interface description has nothing to read.
    private static func finish(_ format: PcapFormat?, _ stoppedBy: PcapError?) throws(PcapError) -> (
        format: PcapFormat, stoppedBy: PcapError?
    ) {
        guard let format else { throw stoppedBy ?? .truncatedFileHeader(length: 0) }
        return (format, stoppedBy)
    }
}
