// swift-tools-version: 6.1
// The benchmarks of the cores and the judge, on ordo-one/benchmark: one executable per concern
// in Benchmarks/<name>/, run by `make bench` against the p90 thresholds committed in
// Thresholds/ (`make bench-update` records new ones). A package of its own, so the benchmark
// library and its allocation interposer never reach the product's build.
import PackageDescription

let benchmark: [Target.Dependency] = [
    "Support", .product(name: "Benchmark", package: "benchmark"), .product(name: "SeamlessCores", package: "Seamless"),
]

let package = Package(
    name: "SeamlessBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Seamless", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .target(name: "Support", dependencies: [.product(name: "Benchmark", package: "benchmark")], path: "Support")
    ]
        + ["Analyser", "WireCodecs", "RelayForwarding", "LinkEmulator", "ChordCore"].map { name in
            .executableTarget(
                name: name, dependencies: benchmark, path: "Benchmarks/\(name)",
                plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")])
        }
)
