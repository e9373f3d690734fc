// swift-tools-version: 6.1
// Seamless: peer-to-peer service overlays whose services migrate while they run, and the
// testbed that proves it from packet captures. Layering (arrows only point down) is described
// in README.md; layer-1 targets do no I/O.
import PackageDescription

let strict: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]

let package = Package(
    name: "Seamless",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "testbed", targets: ["testbed"]),
        .executable(name: "peer", targets: ["peer"]),
        // What each fuzz target does with one input; `Fuzz/` builds the libFuzzer executables.
        .library(name: "FuzzTargets", targets: ["FuzzTargets"]),
        // The sans-I/O cores and the judge, for the benchmarks of `Benchmarks/`.
        .library(
            name: "SeamlessCores",
            targets: [
                "OverlayCore", "RTP", "ControlProtocol", "DHT", "Mobility", "VoiceRelay", "LinkEmulation", "Analysis",
            ]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // Layer 0: C.
        .target(name: "CSeamlessLinux"),
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .systemLibrary(name: "CSpeex", pkgConfig: "speex", providers: [.apt(["libspeex-dev"])]),
        .systemLibrary(name: "CSpeexDSP", pkgConfig: "speexdsp", providers: [.apt(["libspeexdsp-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Layer 1: values, no I/O.
        .target(
            name: "OverlayCore",
            dependencies: [.product(name: "RealModule", package: "swift-numerics")],
            swiftSettings: strict),
        .target(
            name: "Scenario",
            dependencies: ["OverlayCore", "LinkEmulation", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        .target(name: "ControlProtocol", dependencies: ["OverlayCore"], swiftSettings: strict),
        .target(name: "RTP", swiftSettings: strict),
        .target(
            name: "DHT", dependencies: ["OverlayCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .target(name: "Registry", dependencies: ["DHT", "OverlayCore"], swiftSettings: strict),
        .target(name: "VoiceRelay", dependencies: ["OverlayCore", "Mobility", "RTP"], swiftSettings: strict),
        .target(name: "Mobility", dependencies: ["OverlayCore"], swiftSettings: strict),
        // What each kind shows the judge: its events, and the game's datagram format, which stands
        // alone as RTP does. The judge reads these, never the kinds themselves.
        .target(name: "VoiceWire", dependencies: ["ControlProtocol"], swiftSettings: strict),
        .target(name: "GameWire", dependencies: ["ControlProtocol"], swiftSettings: strict),
        .target(name: "GameWorld", dependencies: ["OverlayCore", "Mobility", "GameWire"], swiftSettings: strict),
        .target(
            name: "LinkEmulation",
            dependencies: ["OverlayCore", .product(name: "RealModule", package: "swift-numerics")],
            swiftSettings: strict),

        // Layer 2: adapters.
        .target(
            name: "Analysis",
            dependencies: ["OverlayCore", "Scenario", "ControlProtocol", "RTP", "VoiceWire", "GameWire", "DHT"],
            swiftSettings: strict),
        .target(name: "Voice", dependencies: ["CSpeex", "CSpeexDSP", "RTP"], swiftSettings: strict),

        // Layer 3: the runtime that hosts and moves any service kind, plugged into PeerNode, and
        // the kinds themselves.
        .target(
            name: "ServiceRuntime",
            dependencies: [
                "Mobility", "PeerNode", "Registry", "ControlProtocol", "OverlayCore", "CZlib", "CSeamlessLinux",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "VoiceService",
            dependencies: [
                "Voice", "RTP", "VoiceRelay", "VoiceWire", "Mobility", "PeerNode", "Registry", "ControlProtocol",
                "OverlayCore", "ServiceRuntime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "GameService",
            dependencies: [
                "GameWorld", "GameWire", "Mobility", "PeerNode", "ControlProtocol", "OverlayCore", "ServiceRuntime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "PeerNode",
            dependencies: [
                "OverlayCore", "ControlProtocol", "CSeamlessLinux", "DHT", "Registry",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .target(
            name: "Harness",
            dependencies: [
                "OverlayCore", "Scenario", "ControlProtocol", "Analysis", "CSeamlessLinux", "CPcap", "LinkEmulation",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),

        // Layer 4: executables.
        .executableTarget(
            name: "peer",
            dependencies: [
                "PeerNode", "DHT", "OverlayCore", "ServiceRuntime", "VoiceService", "GameService", "CSeamlessLinux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict,
            // A position-independent peer applies 98,000 relocations at every start, and every
            // page they touch becomes its own copy: linked at a fixed address, a release peer's
            // PSS is 1.1 MB instead of 2.1 and its peak RSS 20 MB instead of 23 (scale-1000),
            // and its start costs about 1 ms less CPU. Its libraries, heap and stacks keep
            // their random addresses; only the executable's own does not move.
            linkerSettings: [.unsafeFlags(["-Xlinker", "-no-pie"], .when(configuration: .release))]),
        .executableTarget(
            name: "testbed",
            dependencies: [
                "Harness", "Scenario", "Analysis", "ControlProtocol", "LinkEmulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),

        // The fuzz targets' bodies (Fuzz/ holds their executables, corpora and regressions).
        .target(
            name: "FuzzTargets",
            dependencies: [
                "Analysis", "ControlProtocol", "DHT", "GameWire", "GameWorld", "Mobility", "OverlayCore", "RTP",
                "Scenario",
                "VoiceRelay",
            ],
            swiftSettings: strict),

        // The voice service's benchmarks over real sockets (the cores' are in Benchmarks/).
        .executableTarget(
            name: "voice-bench",
            dependencies: [
                "Voice", "VoiceRelay", "VoiceService", "ServiceRuntime", "Mobility", "RTP", "OverlayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Tests, one folder per target, and the kit the multi-process tests share.
        .target(
            name: "SeamlessTestKit", dependencies: ["CSeamlessLinux", "ControlProtocol"], path: "Tests/SeamlessTestKit"),
        .testTarget(
            name: "PeerNodeTests",
            dependencies: [
                "ControlProtocol", "SeamlessTestKit", "PeerNode", "OverlayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "OverlayCoreTests", dependencies: ["OverlayCore"]),
        .testTarget(
            name: "ScenarioTests", dependencies: ["Scenario", "LinkEmulation"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ControlProtocolTests", dependencies: ["ControlProtocol"]),
        .testTarget(
            name: "AnalysisTests",
            dependencies: [
                "Analysis", "RTP", "VoiceWire", "GameWire", "ControlProtocol", "SeamlessTestKit",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(name: "RTPTests", dependencies: ["RTP"]),
        .testTarget(name: "DHTTests", dependencies: ["DHT", "Registry", "OverlayCore"]),
        .testTarget(name: "ArchitectureTests"),
        .testTarget(name: "LinkEmulationTests", dependencies: ["LinkEmulation"]),
        .testTarget(name: "VoiceTests", dependencies: ["Voice", "RTP", "OverlayCore"]),
        .testTarget(
            name: "VoiceServiceTests",
            dependencies: [
                "VoiceService", "ServiceRuntime", "Voice", "VoiceRelay", "VoiceWire", "Mobility", "Registry",
                "ControlProtocol", "RTP", "PeerNode", "OverlayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "VoiceRelayTests", dependencies: ["VoiceRelay", "Mobility", "OverlayCore"]),
        .testTarget(name: "MobilityTests", dependencies: ["Mobility", "OverlayCore"]),
        .testTarget(name: "GameWorldTests", dependencies: ["GameWorld", "GameWire", "Mobility", "OverlayCore"]),
        .testTarget(
            name: "HarnessTests",
            dependencies: [
                "Harness", "SeamlessTestKit", "DHT", "Voice", "Analysis", "Scenario", "Mobility", "RTP", "OverlayCore",
            ]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CPcap", "CSpeex", "CSpeexDSP", "CZlib"]),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["FuzzTargets"]),
    ]
)
