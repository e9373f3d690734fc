import CSeamlessLinux
import ControlProtocol
import Foundation
import NIOPosix
import OverlayCore

/// Starts peer processes from one long-lived thread.
///
/// Peers ask the kernel to kill them when their parent dies (PR_SET_PDEATHSIG), and Linux
/// fires that signal when the *thread* that forked them exits, not the process. A Swift task
/// may run on any pool thread, and pool threads come and go, so every fork happens on this
/// spawner's single thread, which lives until the run ends.
final class ProcessSpawner: Sendable {
    private let thread: NIOThreadPool

    init() {
        thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
    }

    /// The pipes and pid of a started process; the caller owns `commandWriter` and
    /// `eventReader`.
    struct Started: Sendable {
        let pid: pid_t
        /// Write end of the child's stdin.
        let commandWriter: CInt
        /// Read end of the child's stdout.
        let eventReader: CInt
        /// When `posix_spawn` returned: the child exists from here on, and nothing it reports
        /// can carry an earlier time.
        let startedAt: Timestamp
    }

    /// Starts `executable` with stdin and stdout connected to new pipes and stderr appended
    /// to `logPath`.
    func spawn(executable: String, arguments: [String], logPath: String) async throws -> Started {
        try await thread.runIfActive {
            try Self.spawnNow(executable: executable, arguments: arguments, logPath: logPath)
        }
    }

    /// Starts a peer's process, recording it in the manifest before and after (the two
    /// launchers differ only in what they prepare first and in the command line).
    func spawnRecorded(
        _ peer: PeerName, executable: String, arguments: [String], logPath: String, manifest: RunManifest
    ) async throws -> LaunchedProcess {
        try await manifest.record(.spawning(peer: peer.description))
        let started = try await spawn(executable: executable, arguments: arguments, logPath: logPath)
        try await manifest.record(
            .process(peer: peer.description, pid: started.pid, start: ProcFS.startTicks(of: started.pid) ?? -1))
        return LaunchedProcess(
            peer: peer, pid: started.pid, commandWriter: started.commandWriter, eventReader: started.eventReader,
            startedAt: started.startedAt)
    }

    func shutdown() async throws {
        try await thread.shutdownGracefully()
    }

    private static func spawnNow(executable: String, arguments: [String], logPath: String) throws -> Started {
        var commands: [CInt] = [-1, -1]
        var events: [CInt] = [-1, -1]
        var failure = seamless_pipe_cloexec(&commands)
        guard failure == 0 else { throw HarnessError.system(call: "pipe2", errno: failure) }
        failure = seamless_pipe_cloexec(&events)
        guard failure == 0 else {
            closeAll(commands)
            throw HarnessError.system(call: "pipe2", errno: failure)
        }
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else {
            closeAll(commands + events)
            throw HarnessError.system(call: "open \(logPath)", errno: errno)
        }
        defer { closeAll([commands[0], events[1], log]) }  // the child's ends

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = seamless_spawn(executable, argv, environ, commands[0], events[1], log, &pid)
        guard result == 0 else {
            closeAll([commands[1], events[0]])
            throw HarnessError.system(call: "posix_spawn \(executable)", errno: result)
        }
        return Started(
            pid: pid, commandWriter: commands[1], eventReader: events[0],
            startedAt: Timestamp(microseconds: seamless_realtime_microseconds()))
    }

    private static func closeAll(_ descriptors: [CInt]) {
        for descriptor in descriptors where descriptor >= 0 { close(descriptor) }
    }
}
