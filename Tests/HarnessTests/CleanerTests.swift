import Foundation
import SeamlessTestKit
import Testing

@testable import Harness

/// `testbed clean` removes exactly what a dead run's manifest lists, and of that only its own
/// peers and namespaces; the files it trusts are the user's own, and no symlink is followed.
@Suite struct CleanerTests {
    /// A pid and start time that name no living process: a child that has exited.
    static func deadProcess() throws -> (Int32, Int64) {
        let done = try ChildProcess("/bin/true", [])
        #expect(done.waitForExit(within: .seconds(5)))
        return (done.pid, 1)
    }

    @Test func killsRecordedPeersOfADeadRunAndSparesAReusedPidAndAStranger() async throws {
        let folder = temporaryDirectory("clean")
        let state = StateDirectory(path: folder + "/state")
        try state.create()
        let (deadCoordinator, deadStart) = try Self.deadProcess()
        // A process whose arguments are a peer's of that run (the shell ignores them).
        let leftover = try ChildProcess(
            "/bin/sh", ["-c", "sleep 30; :", "sh", "--name", "peer-1", "--coordinator-pid", "\(deadCoordinator)"])
        let bystander = try ChildProcess("/bin/sleep", ["30"])
        // The right pid and start time, but no peer of the run: a manifest cannot make clean kill it.
        let stranger = try ChildProcess(
            "/bin/sh", ["-c", "sleep 30; :", "sh", "--name", "peer-3", "--coordinator-pid", "\(deadCoordinator + 1)"])

        let manifest = try RunManifest(path: folder + "/manifest.jsonl")
        try await manifest.record(
            .run(id: "dead-run", folder: folder, coordinatorPid: deadCoordinator, coordinatorStart: deadStart))
        try await manifest.record(
            .process(peer: "peer-1", pid: leftover.pid, start: ProcFS.startTicks(of: leftover.pid)!))
        // The bystander's pid with another start time: a pid reused since the run recorded it.
        try await manifest.record(
            .process(peer: "peer-2", pid: bystander.pid, start: ProcFS.startTicks(of: bystander.pid)! - 1))
        try await manifest.record(
            .process(peer: "peer-3", pid: stranger.pid, start: ProcFS.startTicks(of: stranger.pid)!))
        try state.register(runID: "dead-run", manifest: manifest.path)

        let outcome = await Cleaner.clean(stateDirectory: state)
        #expect(outcome.runsCleaned == 1)
        #expect(outcome.actions.contains("dead-run: killed peer-1 (pid \(leftover.pid))"))
        #expect(outcome.actions.contains("dead-run: pid \(stranger.pid) is not peer-3 of this run; left alone"))
        #expect(leftover.waitForExit(within: .seconds(3)))
        #expect(bystander.isRunning && stranger.isRunning)
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

    @Test func aNamespaceIsRemovedOnlyIfItIsOneOfTheRunsPeers() {
        let coordinator: Int32 = 4242
        let own = NetnsLauncher.prefixStart(coordinator: coordinator) + "0a-p3"
        #expect(NetnsLauncher.isNamespace(own, of: coordinator))
        for other in [
            "victim", own + "x", NetnsLauncher.prefixStart(coordinator: coordinator + 1) + "0a-p3",
            NetnsLauncher.prefixStart(coordinator: coordinator) + "0a-p",
            NetnsLauncher.prefixStart(coordinator: coordinator) + "0A-p3",
        ] {
            #expect(!NetnsLauncher.isNamespace(other, of: coordinator), "\(other)")
        }
        let manifest: [RunManifest.Entry] = [
            .run(id: "r", folder: "/nowhere", coordinatorPid: coordinator, coordinatorStart: 1),
            .namespace(name: "victim"), .namespace(name: own),
        ]
        #expect(
            NetnsLauncher.clean(runID: "r", manifest: manifest) == [
                "r: victim is not a namespace of this run; left alone", "r: namespace \(own) already gone",
            ])
    }

    @Test func theStateFolderIsPrivateAndNoSymlinkIsFollowed() throws {
        let folder = temporaryDirectory("state-safety")
        let state = StateDirectory(path: folder + "/state")
        try state.create()
        func mode(_ path: String) -> mode_t {
            var info = stat()
            lstat(path, &info)
            return info.st_mode & 0o7777
        }
        #expect(mode(state.path) == 0o700 && mode(state.runsPath) == 0o700)
        // A wider folder of its own is narrowed.
        chmod(state.path, 0o755)
        try state.create()
        #expect(mode(state.path) == 0o700)
        // A symlink where the folder should be is refused, not followed.
        let elsewhere = temporaryDirectory("state-elsewhere")
        #expect(symlink(elsewhere, folder + "/planted") == 0)
        #expect(throws: HarnessError.self) { try StateDirectory(path: folder + "/planted").create() }
        #expect(!FileManager.default.fileExists(atPath: elsewhere + "/runs"))
        // Someone else's folder is refused (as root: one handed to nobody).
        if getuid() == 0 {
            let theirs = folder + "/theirs"
            #expect(mkdir(theirs, 0o700) == 0 && chown(theirs, 65534, 65534) == 0)
            #expect(throws: HarnessError.self) { try StateDirectory(path: theirs).create() }
        }
    }

    @Test func aLockFilePlantedAsASymlinkIsNotFollowed() throws {
        let directory = temporaryDirectory("blocks-planted")
        let target = directory + "-target"
        #expect(symlink(target, directory + "/20.lock") == 0)
        #expect(throws: HarnessError.self) { try NetworkBlocks(directory: directory).claim(in: 20...20) }
        #expect(!FileManager.default.fileExists(atPath: target))
        // Nor a shared folder that is a symlink.
        #expect(symlink(directory, directory + "-link") == 0)
        #expect(throws: HarnessError.self) { try NetworkBlocks(directory: directory + "-link").claim(in: 21...21) }
    }

    @Test func aRunFolderIsItsOwnersUnlessShared() throws {
        let root = temporaryDirectory("folders")
        func mode(_ path: String) -> mode_t {
            var info = stat()
            lstat(path, &info)
            return info.st_mode & 0o777
        }
        let own = try RunFolder.create(root: root, scenario: "a")
        let shared = try RunFolder.create(root: root, scenario: "b", shared: true)
        #expect(mode(own.path) == 0o700 && mode(own.path + "/peers") == 0o700)
        #expect(mode(shared.path) == 0o755 && mode(shared.path + "/audio") == 0o755)
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
