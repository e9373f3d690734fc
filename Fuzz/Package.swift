// swift-tools-version: 6.1
// The libFuzzer executables, one per fuzz target, over the bodies in the main package's
// FuzzTargets library. Built by `make fuzz` with -sanitize=fuzzer,address into ../.build-fuzz;
// each reads and grows its corpus in Corpus/<target>, and every crash it ever found is an input
// in Regressions/<target> that `make test` replays.
import PackageDescription

let package = Package(
    name: "SeamlessFuzz",
    dependencies: [.package(name: "Seamless", path: "..")],
    targets: [
        .target(name: "CFuzzerDriver", path: "Targets/CFuzzerDriver"),
        .target(
            name: "FuzzDriver", dependencies: ["CFuzzerDriver", .product(name: "FuzzTargets", package: "Seamless")],
            path: "Targets/FuzzDriver"),
        .executableTarget(
            name: "fuzz-pcap", dependencies: ["FuzzDriver"],
            path: "Targets/pcap"),
        .executableTarget(
            name: "fuzz-pcapng", dependencies: ["FuzzDriver"],
            path: "Targets/pcapng"),
        .executableTarget(
            name: "fuzz-rtp", dependencies: ["FuzzDriver"],
            path: "Targets/rtp"),
        .executableTarget(
            name: "fuzz-chord", dependencies: ["FuzzDriver"],
            path: "Targets/chord"),
        .executableTarget(
            name: "fuzz-relay", dependencies: ["FuzzDriver"],
            path: "Targets/relay"),
        .executableTarget(
            name: "fuzz-mobility", dependencies: ["FuzzDriver"],
            path: "Targets/mobility"),
        .executableTarget(
            name: "fuzz-game", dependencies: ["FuzzDriver"],
            path: "Targets/game"),
        .executableTarget(
            name: "fuzz-event-line", dependencies: ["FuzzDriver"],
            path: "Targets/event-line"),
        .executableTarget(
            name: "fuzz-peer-command", dependencies: ["FuzzDriver"],
            path: "Targets/peer-command"),
        .executableTarget(
            name: "fuzz-report", dependencies: ["FuzzDriver"],
            path: "Targets/report"),
        .executableTarget(
            name: "fuzz-scenario", dependencies: ["FuzzDriver"],
            path: "Targets/scenario"),
        .executableTarget(
            name: "fuzz-profile", dependencies: ["FuzzDriver"],
            path: "Targets/profile"),
    ]
)
