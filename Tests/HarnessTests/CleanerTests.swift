import Foundation
import SeamlessTestKit
import Testing

@testable import Harness

/// `testbed clean` removes exactly what a dead run's manifest lists, and nothing else.
@Suite struct CleanerTests {
    /// A pid and start time that name no living process: a child that has exited.
    static func deadProcess() throws -> (Int32, Int64) {
        let done = try ChildProcess("/bin/true", [])
        #expect(done.waitForExit(within: .seconds(5)))
        return (done.pid, 1)
    }

    @Test func killsRecordedProcessesOfADeadRunAndSparesAReusedPid() async throws {
        let folder = temporaryDirectory("clean")
        let state = StateDirectory(path: folder + "/state")
        try state.create()
        let leftover = try ChildProcess("/bin/sleep", ["30"])
        let bystander = try ChildProcess("/bin/sleep", ["30"])
        let (deadCoordinator, deadStart) = try Self.deadProcess()

        let manifest = try RunManifest(path: folder + "/manifest.jsonl")
        try await manifest.record(
            .run(id: "dead-run", folder: folder, coordinatorPid: deadCoordinator, coordinatorStart: deadStart))
        try await manifest.record(
            .process(peer: "peer-1", pid: leftover.pid, start: ProcFS.startTicks(of: leftover.pid)!))
        // The bystander's pid with another start time: a pid reused since the run recorded it.
        try await manifest.record(
            .process(peer: "peer-2", pid: bystander.pid, start: ProcFS.startTicks(of: bystander.pid)! - 1))
        try state.register(runID: "dead-run", manifest: manifest.path)

        let outcome = await Cleaner.clean(stateDirectory: state)
        #expect(outcome.runsCleaned == 1)
        #expect(outcome.actions.contains("dead-run: killed peer-1 (pid \(leftover.pid))"))
        #expect(leftover.waitForExit(within: .seconds(3)))
        #expect(bystander.isRunning)
        #expect(state.registeredRuns().isEmpty)
        #expect(try RunManifest.read(path: manifest.path).last == .closed)
    }

    @Test func leavesALiveRunAlone() async throws {
        let folder = temporaryDirectory("clean-live")
        let state = StateDirectory(path: folder + "/state")
        try state.create()
        let peer = try ChildProcess("/bin/sleep", ["30"])
        let manifest = try RunManifest(path: folder + "/manifest.jsonl")
        // This test process plays the coordinator: it is alive, so its run must be spared.
        try await manifest.record(
            .run(
                id: "live-run", folder: folder, coordinatorPid: getpid(),
                coordinatorStart: ProcFS.startTicks(of: getpid())!))
        try await manifest.record(.process(peer: "peer-1", pid: peer.pid, start: ProcFS.startTicks(of: peer.pid)!))
        try state.register(runID: "live-run", manifest: manifest.path)

        let outcome = await Cleaner.clean(stateDirectory: state)
        #expect(outcome.runsStillRunning == 1)
        #expect(outcome.runsCleaned == 0)
        #expect(peer.isRunning)
        #expect(state.registeredRuns().map(\.runID) == ["live-run"])
    }

    @Test func networkBlocksAreExclusiveAndFreedWithTheirHolder() throws {
        let blocks = NetworkBlocks(directory: temporaryDirectory("blocks"))
        let first = try blocks.claim(in: 10...11)
        let second = try blocks.claim(in: 10...11)
        #expect(first.number == 10)
        #expect(second.number == 11)
        #expect(throws: HarnessError.self) { try blocks.claim(in: 10...11) }
        first.release()
        // A process forked by a concurrent test holds a copy of the lock until its exec, so
        // the block is free again once every copy is closed: shortly, not necessarily at once.
        var reclaimed: NetworkBlock?
        #expect(
            eventually(within: .seconds(2)) {
                reclaimed = try? blocks.claim(in: 10...10)
                return reclaimed != nil
            })
        #expect(reclaimed?.number == 10)
    }
}
