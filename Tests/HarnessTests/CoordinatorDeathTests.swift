import ControlProtocol
import Foundation
import SeamlessTestKit
import Testing

@testable import Harness

/// The `testbed` executable as a user runs it, killed or interrupted mid-run.
@Suite(.timeLimit(.minutes(2))) struct CoordinatorDeathTests {
    static let longRun = """
        name: e2e-long
        peers: 3
        timeline:
          - at: 0s
            spawn: all
          - at: 0s
            wait: ready
          - at: 2s
            pause: peer-2
          - at: 60s
            stop:
        """

    /// Starts `testbed run` on the long scenario and waits until all three peers are ready
    /// (read from its events.jsonl) and peer-2 is paused.
    static func startLongRun(in folder: String) throws -> (ChildProcess, String) {
        let scenario = folder + "/long.yaml"
        try longRun.write(toFile: scenario, atomically: true, encoding: .utf8)
        let testbed = try ChildProcess(
            product("testbed"),
            ["run", scenario, "--out", folder + "/Captures", "--quiet"] + (getuid() == 0 ? [] : ["--no-capture"]),
            environment: ["SEAMLESS_STATE_DIR": folder + "/state"], stderrPath: folder + "/testbed.stderr")
        let events = RunEvents(out: folder + "/Captures")
        let started = eventually(within: .seconds(20)) {
            let parsed = events.lines
            return parsed.filter { if case .ready = $0.event { true } else { false } }.count == 3
                && parsed.contains { $0.event == .paused }
        }
        #expect(started, "the run did not get its peers ready and paused")
        return (testbed, folder + "/Captures/latest/manifest.jsonl")
    }

    static func recordedProcesses(_ manifest: String) throws -> [(pid: Int32, start: Int64)] {
        try RunManifest.read(path: manifest).compactMap { entry in
            if case .process(_, let pid, let start) = entry { (pid, start) } else { nil }
        }
    }

    @Test func killedCoordinatorLeavesNoPeerAfterClean() throws {
        let folder = temporaryDirectory("e2e-kill")
        let (testbed, manifest) = try Self.startLongRun(in: folder)
        let processes = try Self.recordedProcesses(manifest)
        #expect(processes.count == 3)

        testbed.signal(SIGKILL)
        #expect(testbed.waitForExit(within: .seconds(5)))
        let clean = try ChildProcess(
            product("testbed"), ["clean"], environment: ["SEAMLESS_STATE_DIR": folder + "/state"])
        #expect(clean.waitForExit(within: .seconds(10)))
        #expect(clean.exitStatus == 0)

        // Every peer of the run is gone, including the paused one, and the run is forgotten.
        let gone = eventually(within: .seconds(3)) {
            processes.allSatisfy { !ProcFS.isSameProcessAlive(pid: $0.pid, start: $0.start) }
        }
        #expect(gone)
        #expect(StateDirectory(path: folder + "/state").registeredRuns().isEmpty)
        #expect(try RunManifest.read(path: manifest).last == .closed)
    }

    /// Ctrl-C and SIGTERM both end the run in order.
    @Test(arguments: [SIGINT, SIGTERM])
    func interruptedRunStopsItsPeersAndStillReports(signal: Int32) throws {
        let folder = temporaryDirectory("e2e-int")
        let (testbed, manifest) = try Self.startLongRun(in: folder)
        let processes = try Self.recordedProcesses(manifest)

        testbed.signal(signal)
        #expect(testbed.waitForExit(within: .seconds(15)))
        #expect(testbed.exitStatus == 130)
        for process in processes { #expect(!ProcFS.isSameProcessAlive(pid: process.pid, start: process.start)) }
        #expect(try RunManifest.read(path: manifest).last == .closed)

        let report = try JSONValue.parse(
            try String(contentsOfFile: folder + "/Captures/latest/report.json", encoding: .utf8))
        #expect(report["run"]?["outcome"] == .string("interrupted"))
        // The paused peer was woken and shut down like the others, not killed.
        #expect(report["peers"]?["stopped"] == .number(3))
    }
}

/// Without the privilege to capture, a run stops before starting anything and says what to do.
@Suite(.enabled(if: getuid() == 0 && access("/usr/sbin/runuser", X_OK) == 0, "needs root to become another user"))
struct CapturePrivilegeTests {
    @Test func anUnprivilegedRunSaysHowToCapture() throws {
        let folder = temporaryDirectory("e2e-unprivileged")
        chmod(folder, 0o777)
        let scenario = folder + "/s.yaml"
        try "name: unprivileged\npeers: 1\ntimeline:\n  - at: 0s\n    spawn: all\n".write(
            toFile: scenario, atomically: true, encoding: .utf8)
        chmod(scenario, 0o644)
        let run = try ChildProcess(
            "/usr/sbin/runuser",
            ["-u", "nobody", "--", product("testbed"), "run", scenario, "--out", folder + "/Captures", "--quiet"],
            environment: ["SEAMLESS_STATE_DIR": folder + "/state"], stderrPath: folder + "/stderr")
        #expect(run.waitForExit(within: .seconds(20)))
        #expect(run.exitStatus == 1)
        let stderr = try String(contentsOfFile: folder + "/stderr", encoding: .utf8)
        #expect(stderr.contains("capturing on lo needs root or CAP_NET_RAW and CAP_NET_ADMIN"), "\(stderr)")
        #expect(stderr.contains("--no-capture"))
        // Nothing was started and no run folder is left.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: folder + "/Captures")) ?? []).isEmpty)
    }
}
