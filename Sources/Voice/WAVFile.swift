import Foundation

/// 16-bit PCM mono WAV files: the speakers' recordings and what each listener heard.
public struct WAVFile: Sendable, Equatable {
    public var sampleRate: Int
    public var samples: [Int16]

    public init(sampleRate: Int, samples: [Int16]) {
        self.sampleRate = sampleRate
        self.samples = samples
    }

    /// Why bytes are not a WAV this project reads; offsets say where.
    public enum ReadError: Error, Equatable, CustomStringConvertible {
        case notRIFF
        case missingChunk(String)
        case unsupportedFormat(channels: Int, bitsPerSample: Int, encoding: Int)
        case truncated(offset: Int)

        public var description: String {
            switch self {
            case .notRIFF: "not a RIFF/WAVE file"
            case .missingChunk(let name): "no '\(name)' chunk"
            case .unsupportedFormat(let channels, let bits, let encoding):
                "only 16-bit PCM mono is read; this file has \(channels) channels, \(bits) bits, encoding \(encoding)"
            case .truncated(let offset): "truncated at byte \(offset)"
            }
        }
    }

    public init(bytes: [UInt8]) throws(ReadError) {
        func u32(_ at: Int) -> Int {
            Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        guard bytes.count >= 12, bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WAVE".utf8)
        else {
            throw .notRIFF
        }
        var offset = 12
        var format: (channels: Int, rate: Int, bits: Int, encoding: Int)?
        while offset + 8 <= bytes.count {
            let name = String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self)
            let size = u32(offset + 4)
            let body = offset + 8
            guard body + size <= bytes.count else { throw .truncated(offset: offset) }
            if name == "fmt " {
                guard size >= 16 else { throw .truncated(offset: offset) }
                format = (u16(body + 2), u32(body + 4), u16(body + 14), u16(body))
            } else if name == "data" {
                guard let format else { throw .missingChunk("fmt ") }
                guard format.channels == 1, format.bits == 16, format.encoding == 1 else {
                    throw .unsupportedFormat(
                        channels: format.channels, bitsPerSample: format.bits, encoding: format.encoding)
                }
                sampleRate = format.rate
                // One copy of the little-endian samples, not a closure per sample: a 28 s
                // recording is read whenever a client is told to speak, and in a debug build
                // the per-sample form took long enough to delay the talk spurt by frames.
                let count = size / 2
                samples = [Int16](unsafeUninitializedCapacity: count) { buffer, initialized in
                    bytes.withUnsafeBytes { raw in
                        UnsafeMutableRawBufferPointer(buffer).copyMemory(
                            from: UnsafeRawBufferPointer(rebasing: raw[body..<(body + count * 2)]))
                    }
                    for index in 0..<count { buffer[index] = Int16(littleEndian: buffer[index]) }
                    initialized = count
                }
                return
            }
            offset = body + size + (size & 1)
        }
        throw .missingChunk("data")
    }

    /// The file's bytes (44-byte header, little-endian samples).
    public var bytes: [UInt8] {
        func u32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8((value >> (8 * $0)) & 0xFF) } }
        func u16(_ value: Int) -> [UInt8] { (0..<2).map { UInt8((value >> (8 * $0)) & 0xFF) } }
        let data = samples.count * 2
        var out = Array("RIFF".utf8) + u32(36 + data) + Array("WAVEfmt ".utf8) + u32(16) + u16(1) + u16(1)
        out += u32(sampleRate) + u32(sampleRate * 2) + u16(2) + u16(16) + Array("data".utf8) + u32(data)
        let header = out.count
        out += repeatElement(0, count: data)
        out.withUnsafeMutableBytes { raw in
            let body = UnsafeMutableRawBufferPointer(rebasing: raw[header...])
            for (index, sample) in samples.enumerated() {
                body.storeBytes(of: sample.littleEndian, toByteOffset: index * 2, as: Int16.self)
            }
        }
        return out
    }

    public static func read(path: String) throws -> WAVFile {
        try WAVFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    public func write(path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}
