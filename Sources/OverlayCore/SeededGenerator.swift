/// A deterministic random number generator (xoshiro256**, seeded through SplitMix64).
///
/// One run seed drives all randomness of a run; each consumer derives its own stream with
/// `derived(_:)` from a label (`"churn/step-4"`, `"link/peer-3/up"`), so adding a consumer does
/// not shift the numbers any other consumer draws.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// The seed this generator started from.
    public let seed: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        var splitMix = seed
        func next() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (next(), next(), next(), next())
    }

    /// A generator for one consumer: the same seed and label always give the same stream,
    /// different labels give independent streams.
    public func derived(_ label: String) -> SeededGenerator {
        // FNV-1a over the label's UTF-8, mixed with the seed.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in label.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return SeededGenerator(seed: seed ^ hash)
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, by: 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotateLeft(state.3, by: 45)
        return result
    }

    /// A uniform draw in the open interval (0, 1): never 0, so `log` of it is finite, and
    /// never 1. The midpoints of 2^52 equal cells: (k + 1/2) / 2^52.
    public mutating func nextUnitInterval() -> Double { Self.unitInterval(next()) }

    /// Maps 64 random bits into (0, 1).
    static func unitInterval(_ bits: UInt64) -> Double { (Double(bits >> 12) + 0.5) * 0x1p-52 }

    private func rotateLeft(_ x: UInt64, by k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
