import Analysis
/// `testbed`: the coordinator's command line. It validates scenarios, runs them with real peer
/// processes, rebuilds reports from run folders and cleans up after killed runs. Everything
/// it does is in `Harness`; this file only parses arguments and maps outcomes to exit codes:
/// 0 passed, 1 an expectation failed or the run failed, 2 bad input, 130 interrupted.
import ArgumentParser
import ControlProtocol
import Foundation
import Harness
import LinkEmulation
import Logging
import Scenario
import ServiceLifecycle

@main
struct Testbed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testbed",
        abstract: "Run peer-to-peer overlay experiments with real peer processes and report what happened.",
        subcommands: [Run.self, Validate.self, Report.self, Clean.self])
}

extension LaunchMode: ExpressibleByArgument {}

/// Reads and validates a scenario file and finds its link profiles (`ScenarioLoader`),
/// printing every diagnostic; exits 2 on any.
func loadScenario(_ path: String, profileFolders: [String]) throws -> ScenarioLoader.Loaded {
    do {
        return try ScenarioLoader.load(path, profileFolders: profileFolders)
    } catch {
        FileHandle.standardError.write(Data((error.description + "\n").utf8))
        throw ExitCode(2)
    }
}

/// The `peer` executable next to this one.
func defaultPeerExecutable() -> String {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return ((me as NSString).deletingLastPathComponent as NSString).appendingPathComponent("peer")
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario: spawn peers, drive the timeline, write a run folder and print its report.")

    @Argument(help: "The scenario file (YAML), e.g. Testbed/scenarios/smoke.yaml.")
    var scenario: String

    @Option(help: "Where peers run: loopback or netns (default: the scenario's mode).")
    var mode: LaunchMode?

    @Option(help: "The folder run folders are created in; <out>/latest points at the newest.")
    var out: String = "Captures"

    @Option(help: "The seed for every random choice (default: the scenario's seed).")
    var seed: UInt64?

    @Option(help: "The peer executable (default: the one next to testbed).")
    var peer: String?

    @Flag(help: "No progress output.")
    var quiet = false

    @Flag(help: "Do not capture traffic (capturing on lo needs root or CAP_NET_RAW).")
    var noCapture = false

    @Flag(help: "Let other users read the run folder (by default only its owner may: mode 0700).")
    var share = false

    @Option(
        name: .customLong("profiles"),
        help: "A folder of link profiles, searched after the one beside the scenario's folder and the project's.")
    var profileFolders: [String] = []

    func run() async throws {
        let loaded = try loadScenario(self.scenario, profileFolders: profileFolders)
        let scenario = loaded.scenario
        var logger = Logger(label: "testbed")
        logger.logLevel = .warning
        let service = RunService(
            scenario: scenario, source: loaded.source,
            options: RunOptions(
                outputRoot: out, seed: seed, mode: mode, peerExecutable: peer ?? defaultPeerExecutable(),
                progress: quiet ? .quiet : .automatic, capture: !noCapture, profiles: loaded.profiles,
                shareFolder: share))
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            FileHandle.standardError.write(Data("testbed: error: \(service.failure.value ?? "\(error)")\n".utf8))
            throw ExitCode(1)
        }
        guard let result = service.result.value else {
            FileHandle.standardError.write(
                Data("testbed: error: \(service.failure.value ?? "run did not finish")\n".utf8))
            throw ExitCode(1)
        }
        print(result.report.text(folder: result.folder.path), terminator: "")
        switch RunOutcome(rawValue: result.report.run.outcome) {
        case .interrupted?: throw ExitCode(130)
        case .completed?: if !result.passed { throw ExitCode(1) }
        default: throw ExitCode(1)
        }
    }
}

/// The run as a service of the process's ServiceGroup, which turns SIGINT and SIGTERM into a
/// graceful end of the run.
struct RunService: Service {
    let scenario: Scenario
    let source: String
    let options: RunOptions
    let result = Box<RunResult>()
    let failure = Box<String>()

    func run() async throws {
        do {
            result.value = try await TestbedRun.execute(scenario, source: source, options: options)
        } catch {
            failure.value = "\(error)"
            throw error
        }
    }
}

/// A value set once by a service and read after the group ends.
final class Box<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?
    var value: Value? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a scenario file; print every problem as file:line:column.")

    @Argument(help: "The scenario file (YAML).")
    var scenario: String

    @Option(help: "The seed to expand churn with (default: the scenario's).")
    var seed: UInt64?

    @Flag(help: "Print the expanded timeline: every spawn, leave, crash, pause and resume, with its time.")
    var plan = false

    @Option(
        name: .customLong("profiles"),
        help: "A folder of link profiles, searched after the one beside the scenario's folder and the project's.")
    var profileFolders: [String] = []

    func run() throws {
        let scenario = try loadScenario(self.scenario, profileFolders: profileFolders).scenario
        let expanded: TimelinePlan
        do {
            expanded = try scenario.plan(seed: seed)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        print(
            "\(self.scenario): ok: \(scenario.name), \(expanded.peers.count) peers, \(scenario.steps.count) steps, "
                + "\(expanded.actions.count) actions over \(expanded.end), seed \(expanded.seed)")
        if plan { for action in expanded.actions { print(action) } }
    }
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the report of a run folder (rebuilding its report.txt, .json and .html) or of any pcap file.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, html }

    @Argument(help: "A run folder (e.g. Captures/latest) or a pcap file (tcpdump's, Wireshark's saved as pcap).")
    var path: String

    @Option(help: "What to print: text, json or html.")
    var format: Format = .text

    @Option(
        help: ArgumentHelp(
            "Clock rate (Hz) of a stream with a dynamic payload type when neither an SDP in the capture nor its "
                + "timestamps tell it."))
    var clockRate: Int = 16000

    func validate() throws {
        guard CaptureAnalysis.acceptedClockRates.contains(clockRate) else {
            throw ValidationError(
                "--clock-rate must be from \(CaptureAnalysis.acceptedClockRates.lowerBound) to "
                    + "\(CaptureAnalysis.acceptedClockRates.upperBound) Hz, not \(clockRate)")
        }
    }

    func run() async throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            FileHandle.standardError.write(Data("testbed: error: \(path): no such file or folder\n".utf8))
            throw ExitCode(2)
        }
        if !isDirectory.boolValue {
            try reportCapture()
            return
        }
        let folder = RunFolder(existing: path)
        do {
            let rebuilt = try ReportWriter.rewrite(folder: folder)
            let report = rebuilt.report
            for line in rebuilt.unreadableEventLines.prefix(10) {
                FileHandle.standardError.write(
                    Data("testbed: warning: \(folder.events): unreadable line at \(line) (counted, skipped)\n".utf8))
            }
            if rebuilt.unreadableEventLines.count > 10 {
                FileHandle.standardError.write(
                    Data("testbed: warning: \(rebuilt.unreadableEventLines.count - 10) more unreadable lines\n".utf8))
            }
            if let problems = rebuilt.expectationProblems {
                FileHandle.standardError.write(
                    Data("testbed: warning: expectations not checked:\n\(problems)\n".utf8))
            }
            switch format {
            case .text: print(report.text(folder: folder.path), terminator: "")
            case .json: print(try String(contentsOfFile: folder.reportJSON, encoding: .utf8), terminator: "")
            case .html: print(try String(contentsOfFile: folder.reportHTML, encoding: .utf8), terminator: "")
            }
        } catch {
            FileHandle.standardError.write(Data("testbed: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// A bare capture: analysed on its own, printed, nothing written.
    private func reportCapture() throws {
        let report: CaptureReport
        do {
            report = try CaptureAnalysis.analyse(file: path, dynamicClockRate: clockRate)
        } catch {
            FileHandle.standardError.write(Data("testbed: error: \(path): \(error)\n".utf8))
            throw ExitCode(1)
        }
        switch format {
        case .text: print(report.text(file: path), terminator: "")
        case .json: print(try ReportFiles.json(report), terminator: "")
        case .html: print(report.html(file: path), terminator: "")
        }
        if report.capture.partial {
            FileHandle.standardError.write(
                Data(
                    "testbed: warning: \(path): \(report.capture.error ?? "partial"); the figures cover the packets before it\n"
                        .utf8))
        }
    }
}

struct Clean: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Remove the processes (and later namespaces) of runs whose coordinator was killed, from their manifests.")

    @Argument(help: "Extra manifests (run-folder/manifest.jsonl) to clean besides the registered runs.")
    var manifests: [String] = []

    func run() async throws {
        let outcome = await Cleaner.clean(stateDirectory: .standard(), manifests: manifests)
        for line in outcome.actions { print(line) }
        print("cleaned \(outcome.runsCleaned) runs; \(outcome.runsStillRunning) still running")
    }
}
