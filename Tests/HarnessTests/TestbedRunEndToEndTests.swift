import Analysis
import ControlProtocol
import Foundation
import Scenario
import SeamlessTestKit
import Testing

@testable import Harness

/// Whole runs with real peer processes on loopback: the coordinator in this process.
@Suite(.timeLimit(.minutes(2))) struct TestbedRunEndToEndTests {
    static let smoke = """
        name: e2e-smoke
        peers: 4
        timeline:
          - at: 0s
            spawn: all
          - at: 0s
            wait: ready
          - at: 300ms
            leave: peer-2
          - at: 600ms
            crash: peer-3
          - at: 800ms
            pause: peer-4
          - at: 1200ms
            resume: peer-4
          - at: 1500ms
            stop:
        expect:
          - peers.crashed == 1
          - peers.left == 1
          - startup.allReadyMs < 20000
        """

    static func options(_ folder: String) -> RunOptions {
        RunOptions(
            outputRoot: folder + "/Captures", peerExecutable: product("peer"),
            stateDirectory: StateDirectory(path: folder + "/state"), progress: .quiet, capture: getuid() == 0)
    }

    @Test func smokeRunDoesEveryStepAndLeavesNothingBehind() async throws {
        let folder = temporaryDirectory("e2e-smoke")
        let scenario = try Scenario.parse(Self.smoke, file: "e2e-smoke.yaml")
        let result = try await TestbedRun.execute(scenario, source: Self.smoke, options: Self.options(folder))
        let report = result.report

        // A Bool, not the result: a failure prints the report, not every packet it holds.
        let passed = result.passed
        #expect(passed, "\(report.text())")
        #expect(report.run.outcome == "completed")
        #expect(report.peers.spawned == 4)
        #expect(report.peers.left == 1)
        #expect(report.peers.crashed == 1)
        #expect(report.peers.stopped == 2)
        #expect(report.peers.failed == 0)
        #expect(report.peers.killed == 0)
        #expect(report.peers.maxRssMB > 1)
        #expect(report.startup.ready == 4)
        // The coordinator's CPU is its run's, not that of the test process hosting it.
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        #expect(report.coordinator.cpuSeconds <= report.run.elapsedSeconds * cores, "\(report.coordinator)")

        // The run folder holds what DESIGN.md promises.
        for file in ["scenario.yaml", "events.jsonl", "manifest.jsonl", "report.json", "report.txt"] {
            #expect(FileManager.default.fileExists(atPath: result.folder.path + "/" + file), "\(file) missing")
        }
        for peer in 1...4 {
            #expect(FileManager.default.fileExists(atPath: result.folder.peerLog("peer-\(peer)")))
        }
        let latest = try FileManager.default.destinationOfSymbolicLink(atPath: folder + "/Captures/latest")
        #expect(latest == result.folder.runID)

        // events.jsonl is in time order and names the scripted actions.
        let (events, unreadable) = try ReportFiles.readEvents(at: result.folder.events)
        #expect(unreadable.isEmpty)
        #expect(events.map(\.t) == events.map(\.t).sorted())
        #expect(events.contains { $0.peer == "peer-4" && $0.event == .paused })
        #expect(events.contains { $0.peer == "peer-4" && $0.event == .resumed })
        #expect(events.filter { if case .ready = $0.event { true } else { false } }.count == 4)

        // Nothing of the run is left: every recorded process is gone, the manifest is closed,
        // the run is no longer registered.
        let entries = try RunManifest.read(path: result.folder.manifest)
        #expect(entries.last == .closed)
        let processes = entries.compactMap { entry -> (Int32, Int64)? in
            if case .process(_, let pid, let start) = entry { (pid, start) } else { nil }
        }
        #expect(processes.count == 4)
        for (pid, start) in processes { #expect(!ProcFS.isSameProcessAlive(pid: pid, start: start)) }
        #expect(StateDirectory(path: folder + "/state").registeredRuns().isEmpty)

        // The report can be rebuilt from the folder alone, with the same figures.
        let rebuilt = try ReportWriter.rewrite(folder: result.folder).report
        #expect(rebuilt.peers == report.peers)
        #expect(rebuilt.expectations == report.expectations)
    }

    @Test func aFailedExpectationFailsTheRun() async throws {
        let yaml = """
            name: e2e-expect
            peers: 2
            timeline:
              - at: 0s
                spawn: all
              - at: 0s
                wait: ready
              - at: 200ms
                stop:
            expect:
              - peers.crashed == 1
            """
        let folder = temporaryDirectory("e2e-expect")
        let result = try await TestbedRun.execute(
            try Scenario.parse(yaml, file: "e2e-expect.yaml"), source: yaml, options: Self.options(folder))
        #expect(result.report.run.outcome == "completed")
        // A captured run (as root) is also held to a capture the kernel dropped nothing of.
        let captured = result.report.capture != nil
        #expect(
            result.report.expectations == [
                ExpectationResult(expr: "peers.crashed == 1", value: .number(0), passed: false)
            ] + (captured ? [ExpectationResult(expr: "capture.kernelDrops == 0", value: .number(0), passed: true)] : [])
        )
        #expect(!result.passed)
    }

    @Test func aPeerThatCannotStartIsReportedAndTheRunEndsInOrder() async throws {
        let yaml = """
            name: e2e-missing
            peers: 2
            timeline:
              - at: 0s
                spawn: all
              - at: 500ms
                stop:
            """
        let folder = temporaryDirectory("e2e-missing")
        var options = Self.options(folder)
        options.peerExecutable = "/bin/false"  // starts, then exits at once without a word
        let result = try await TestbedRun.execute(
            try Scenario.parse(yaml, file: "e2e-missing.yaml"), source: yaml, options: options)
        #expect(result.report.peers.failed == 2)
        #expect(result.report.startup.allReadyMs == nil)
    }
}
