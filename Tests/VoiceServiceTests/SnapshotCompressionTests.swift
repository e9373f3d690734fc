import Testing

@testable import ServiceRuntime

/// A snapshot reads back; a size no host would take in, or one the bytes do not inflate to, is
/// an error, never an allocation of what the sender said.
@Suite struct SnapshotCompressionTests {
    @Test func aSnapshotReadsBackAndABadSizeIsRefusedBeforeAnyAllocation() throws {
        let state = (0..<5_000).map { UInt8(truncatingIfNeeded: $0 % 7) }
        let packed = SnapshotCompression.compress(state)
        #expect(packed.count < state.count)
        #expect(try SnapshotCompression.decompress(packed, size: state.count) == state)
        // One frame saying 4 GiB (a u32's largest) must not make the host allocate it.
        for size in [Int(UInt32.max), SnapshotCompression.maximumSize + 1, -1] {
            #expect(throws: SnapshotCompression.Failure.tooLarge(size: size)) {
                try SnapshotCompression.decompress(packed, size: size)
            }
        }
        // A size the bytes do not inflate to, and bytes that are not deflate.
        #expect(throws: SnapshotCompression.Failure.self) { try SnapshotCompression.decompress(packed, size: 10) }
        #expect(throws: SnapshotCompression.Failure.self) {
            try SnapshotCompression.decompress([1, 2, 3], size: state.count)
        }
    }
}
