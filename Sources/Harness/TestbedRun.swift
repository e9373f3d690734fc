import Analysis
import ControlProtocol
import Foundation
import LinkEmulation
import NIOPosix
import OverlayCore
import Scenario

/// What `testbed run` needs besides the scenario.
public struct RunOptions: Sendable {
    /// Where run folders are created (`Captures` by default); `latest` points at the newest.
    public var outputRoot: String
    /// Overrides the scenario's seed.
    public var seed: UInt64?
    /// Overrides the scenario's mode.
    public var mode: LaunchMode?
    /// The `peer` executable.
    public var peerExecutable: String
    public var stateDirectory: StateDirectory
    public var networkBlocks: NetworkBlocks
    public var progress: ProgressDisplay.Style
    /// The link profiles found for the scenario (netns mode).
    public var profiles: ProfileCatalogue
    /// Capture the run's traffic into capture.pcap (needs root or CAP_NET_RAW).
    public var capture: Bool
    /// Let other users read the run folder (by default only its owner may).
    public var shareFolder: Bool

    public init(
        outputRoot: String = "Captures", seed: UInt64? = nil, mode: LaunchMode? = nil, peerExecutable: String,
        stateDirectory: StateDirectory = .standard(), networkBlocks: NetworkBlocks = NetworkBlocks(),
        progress: ProgressDisplay.Style = .automatic, capture: Bool = true,
        profiles: ProfileCatalogue = ProfileCatalogue(), shareFolder: Bool = false
    ) {
        self.shareFolder = shareFolder
        self.outputRoot = outputRoot
        self.seed = seed
        self.mode = mode
        self.peerExecutable = peerExecutable
        self.stateDirectory = stateDirectory
        self.networkBlocks = networkBlocks
        self.progress = progress
        self.capture = capture
        self.profiles = profiles
    }
}

/// The outcome of a run: its folder and report.
public struct RunResult: Sendable {
    public let folder: RunFolder
    public let report: RunReport

    /// True when the run completed and every expectation held (or missed as marked known).
    public var passed: Bool {
        report.run.outcome == RunOutcome.completed.rawValue && report.expectations.allSatisfy(\.acceptable)
    }
}

/// Runs one scenario for real, from creating its run folder to writing its report. Whatever
/// happens in between (a failed step, Ctrl-C, SIGTERM), every process the run started is gone
/// and the manifest is closed when this returns.
public enum TestbedRun {
    /// The seed a peer draws from: the run's, derived with the peer's name, so a run seed
    /// replays every peer's draws and no two peers draw alike.
    static func seed(of peer: PeerName, run seed: UInt64) -> UInt64 {
        var generator = SeededGenerator(seed: seed).derived("peer \(peer)")
        return generator.next()
    }

    /// The overlay ports every peer binds on its own address.
    public static let overlayPorts = (tcp: 7000, udp: 7000)

    public static func execute(_ scenario: Scenario, source: String, options: RunOptions) async throws -> RunResult {
        let mode = options.mode ?? scenario.mode
        let usesLinks =
            !scenario.links.names.isEmpty
            || scenario.steps.contains {
                switch $0.action {
                case .link, .partition, .heal: true
                default: false
                }
            }
        guard mode != .loopback || !usesLinks else { throw HarnessError.linksNeedNetns }
        guard mode == .loopback || geteuid() == 0 else { throw HarnessError.netnsNeedsRoot }
        let plan = try scenario.plan(seed: options.seed)
        // A peer that died leaves a broken stdin pipe; writing to it must be an error, not a
        // signal that ends the coordinator.
        signal(SIGPIPE, SIG_IGN)
        guard access(options.peerExecutable, X_OK) == 0 else {
            throw HarnessError.peerExecutableMissing(options.peerExecutable)
        }
        let block = try options.networkBlocks.claim(in: 100...199)
        defer { block.release() }

        let folder = try RunFolder.create(
            root: options.outputRoot, scenario: scenario.name, shared: options.shareFolder)
        // Capture starts before anything else exists, so a run that cannot capture leaves
        // nothing behind but its (removed) folder.
        // In netns mode the link emulator writes the capture: it sees every packet it delivers.
        let capture: CaptureSession?
        let emulator: LinkEmulator?
        do {
            capture =
                options.capture && mode == .loopback
                ? try CaptureSession.start(
                    interface: "lo", filter: "net 127.\(block.number).0.0/16", path: folder.capture) : nil
            emulator =
                mode == .netns
                ? try LinkEmulator(
                    seed: plan.seed, capturePath: options.capture ? folder.capture : nil,
                    dropsPath: options.capture ? folder.drops : nil) : nil
        } catch {
            try? FileManager.default.removeItem(atPath: folder.path)
            throw error
        }
        folder.markLatest()
        do {
            try source.write(toFile: folder.scenarioCopy, atomically: true, encoding: .utf8)
        } catch {
            throw HarnessError.file(path: folder.scenarioCopy, reason: error.localizedDescription)
        }
        let manifest = try RunManifest(path: folder.manifest)
        let coordinator = getpid()
        try await manifest.record(
            .run(
                id: folder.runID, folder: absolute(folder.path), coordinatorPid: coordinator,
                coordinatorStart: ProcFS.startTicks(of: coordinator) ?? -1))
        try options.stateDirectory.create()
        try options.stateDirectory.register(runID: folder.runID, manifest: absolute(folder.manifest))
        defer { options.stateDirectory.unregister(runID: folder.runID) }

        let recorder = try EventRecorder(path: folder.events)
        await recorder.record(
            .runStarted(
                scenario: scenario.name, seed: plan.seed, mode: mode.rawValue, plannedSeconds: plan.end.inSeconds),
            about: EventLine.runSubject)

        let spawner = ProcessSpawner()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let links = LinkPlan(assignments: scenario.links, catalogue: options.profiles)
        if emulator != nil {
            for event in links.profileEvents(for: scenario) {
                await recorder.record(event, about: EventLine.runSubject)
            }
        }
        let launcher: any PeerLauncher =
            if let emulator {
                NetnsLauncher(
                    block: block.number, executable: options.peerExecutable, spawner: spawner, emulator: emulator,
                    manifest: manifest, links: { links.profiles(of: $0) })
            } else {
                LoopbackLauncher(block: block.number, executable: options.peerExecutable, spawner: spawner)
            }
        let membership = Membership(seed: plan.seed)
        // Only what the scenario sets; the peers keep the DHT's own defaults for the rest.
        let dht = scenario.dht
        let intervals: [(String, Duration?)] = [
            ("--stabilize-interval", dht.stabilize), ("--fix-fingers-interval", dht.fixFingers),
            ("--check-predecessor-interval", dht.checkPredecessor), ("--replicate-interval", dht.replicate),
            ("--request-timeout", dht.requestTimeout),
        ]
        let dhtArguments =
            intervals.flatMap { option, value in value.map { [option, "\($0.inSeconds)"] } ?? [] }
            + (dht.successors.map { ["--successors", "\($0)"] } ?? [])
        let (jobs, jobSink) = AsyncStream.makeStream(of: Job.self)
        let timeline = Timeline(
            context: .init(
                scenario: scenario, plan: plan, folder: folder, launcher: launcher,
                peerExecutableArguments: { name, address in
                    [
                        "--name", name.description, "--address", address, "--tcp-port", "\(overlayPorts.tcp)",
                        "--udp-port", "\(overlayPorts.udp)", "--coordinator-pid", "\(coordinator)",
                        "--seed", "\(Self.seed(of: name, run: plan.seed))",
                    ] + dhtArguments
                },
                recorder: recorder, manifest: manifest, membership: membership, group: group, jobs: jobSink,
                progress: ProgressDisplay(
                    style: options.progress, planned: plan.end, membership: membership, jobs: jobSink),
                links: emulator == nil ? nil : links))

        await withDiscardingTaskGroup { tasks in
            if let capture { tasks.addTask { await capture.run() } }
            tasks.addTask {
                await timeline.run()
                // Every peer has ended: nothing of the run can still be on the wire.
                await capture?.stop()
                jobSink.finish()
            }
            for await job in jobs { tasks.addTask { await job() } }
        }
        let ending = await timeline.ending ?? .failed
        if let emulator {
            let counters = await emulator.stop()
            if options.capture {
                // The emulator writes every packet it delivers: no kernel buffer to overflow.
                await recorder.record(
                    .captureStopped(packets: emulator.captured, kernelDrops: 0, interfaceDrops: 0),
                    about: EventLine.runSubject)
            }
            for (key, count) in counters.sorted(by: { $0.key < $1.key }) {
                await recorder.record(
                    .linkCounters(
                        direction: key.up ? "up" : "down",
                        counts: [
                            "packets": count.packets, "delivered": count.delivered, "lost": count.lost,
                            "queueDrops": count.queueDrops, "tooBig": count.tooBig, "duplicated": count.duplicated,
                            "reordered": count.reordered, "partitioned": count.partitioned, "unrouted": count.unrouted,
                        ]), about: key.peer.description)
            }
        }
        if let statistics = await capture?.finish() {
            await recorder.record(
                .captureStopped(
                    packets: statistics.received, kernelDrops: statistics.kernelDrops,
                    interfaceDrops: statistics.interfaceDrops), about: EventLine.runSubject)
        }

        do {
            try await launcher.stop()
        } catch {
            await recorder.record(.error(message: "cleanup: \(error)"), about: EventLine.runSubject)
        }
        await recorder.record(
            .runEnded(
                reason: ending.rawValue, elapsedSeconds: ((await timeline.elapsed.inSeconds) * 1e6).rounded() / 1e6,
                cpuSeconds: recorder.cpuSeconds()),
            about: EventLine.runSubject)
        try await recorder.finish()
        try await manifest.record(.closed)
        try? await spawner.shutdown()
        try? await group.shutdownGracefully()

        let report = try ReportWriter.write(
            events: await recorder.events, malformed: 0, expectations: scenario.expectations, folder: folder)
        return RunResult(folder: folder, report: report)
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
