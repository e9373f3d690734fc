// What the benchmark executables share: how long each runs, and how far a run may stray from
// the committed p90 thresholds. (Seeded draws come from OverlayCore's `SeededGenerator`.)
import Benchmark

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif

/// A benchmark's configuration (name benchmarks without spaces or punctuation: the benchmark
/// tool writes a threshold file under a cleaned-up name but reads it back under the raw one): its metrics, and its iterations within a time budget, or with
/// `SEAMLESS_BENCH_SMOKE` set (`make bench-smoke`, in CI) three iterations after one warm-up.
/// `allocationTolerance` (percent) widens the allocation check of a benchmark whose count
/// varies from iteration to iteration.
public func configuration(
    metrics: [BenchmarkMetric] = Tolerances.micro, timeUnits: BenchmarkTimeUnits,
    scalingFactor: BenchmarkScalingFactor = .kilo, maxDuration: Duration, maxIterations: Int = 100_000,
    allocationTolerance: Double = 1
) -> Benchmark.Configuration {
    var thresholds = Tolerances.standard.filter { metrics.contains($0.key) }
    thresholds[.mallocCountTotal] = .init(relative: [.p90: allocationTolerance])
    let smoke = getenv("SEAMLESS_BENCH_SMOKE") != nil
    return .init(
        metrics: metrics, timeUnits: timeUnits, warmupIterations: 1, scalingFactor: scalingFactor,
        maxDuration: smoke ? .milliseconds(100) : maxDuration, maxIterations: smoke ? 3 : maxIterations,
        thresholds: thresholds)
}

/// How far a run's p90 may stray from the committed threshold before `make bench` calls it a
/// regression (or an improvement worth recording): time by 25 %, as a shared 2-core virtual
/// machine varies that much from run to run; allocations, which do not vary, by 1 %; peak
/// memory by 10 %.
public enum Tolerances {
    public static var standard: [BenchmarkMetric: BenchmarkThresholds] {
        [
            .wallClock: .init(relative: [.p90: 25]),
            .throughput: .init(relative: [.p90: 25]),
            .mallocCountTotal: .init(relative: [.p90: 1]),
            .peakMemoryResident: .init(relative: [.p90: 10]),
        ]
    }

    /// The metrics of a microbenchmark (time per operation, operations per second, and the
    /// allocations they cost).
    public static var micro: [BenchmarkMetric] { [.wallClock, .throughput, .mallocCountTotal] }
}
