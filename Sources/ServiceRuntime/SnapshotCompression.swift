import CZlib

/// Snapshots travel compressed (zlib's deflate): a relay's state is mostly text and small
/// counters, which deflate to a fraction.
enum SnapshotCompression {
    /// The largest snapshot a host takes in: far above any kind's state here (a relay of 64
    /// participants is a few kB), far below what one frame could make a host allocate (4 GiB).
    static let maximumSize = 16 << 20

    /// Why compressed bytes could not be read back.
    enum Failure: Error, Equatable, CustomStringConvertible {
        /// The sender said the snapshot inflates to more than `maximumSize` bytes.
        case tooLarge(size: Int)
        /// zlib's error code.
        case zlib(Int32)

        var description: String {
            switch self {
            case .tooLarge(let size): "a snapshot of \(size) bytes (at most \(SnapshotCompression.maximumSize))"
            case .zlib(let code): "zlib could not inflate the snapshot (error \(code))"
            }
        }
    }

    static func compress(_ bytes: [UInt8]) -> [UInt8] {
        var size = compressBound(uLong(bytes.count))
        var output = [UInt8](repeating: 0, count: Int(size))
        let status = output.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBufferPointer { compress2(out.baseAddress, &size, $0.baseAddress, uLong($0.count), 6) }
        }
        precondition(status == Z_OK, "compress2 failed with \(status) on a buffer of its own bound")
        return Array(output.prefix(Int(size)))
    }

    /// `size`: the size before compression, as the sender reported it (at most `maximumSize`:
    /// it is what this host allocates).
    static func decompress(_ bytes: [UInt8], size: Int) throws(Failure) -> [UInt8] {
        guard (0...maximumSize).contains(size) else { throw .tooLarge(size: size) }
        var length = uLong(size)
        var output = [UInt8](repeating: 0, count: max(size, 1))
        let status = output.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBufferPointer { uncompress(out.baseAddress, &length, $0.baseAddress, uLong($0.count)) }
        }
        guard status == Z_OK, Int(length) == size else { throw .zlib(status == Z_OK ? Z_DATA_ERROR : status) }
        return Array(output.prefix(size))
    }
}
