/// How alike two recordings are: what tests and checks use to say "the listener heard the source".
public enum AudioSimilarity {
    /// The largest normalized cross-correlation of `b` against `a` over lags 0...maxLag (codecs
    /// and jitter buffers delay), computed on every second sample, with the lag where it peaks.
    public static func correlation(_ a: [Int16], _ b: [Int16], maxLag: Int) -> (value: Double, lag: Int) {
        var best = (value: -1.0, lag: 0)
        let n = min(a.count, b.count) - maxLag
        guard n > 0 else { return best }
        for lag in 0...maxLag {
            var ab = 0.0
            var aa = 0.0
            var bb = 0.0
            for i in stride(from: 0, to: n, by: 2) {
                let x = Double(a[i])
                let y = Double(b[i + lag])
                ab += x * y
                aa += x * x
                bb += y * y
            }
            let value = ab / (aa * bb).squareRoot()
            if value > best.value { best = (value, lag) }
        }
        return best
    }

    /// Mean power of the samples.
    public static func energy(_ samples: [Int16]) -> Double {
        samples.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(1, samples.count))
    }
}
