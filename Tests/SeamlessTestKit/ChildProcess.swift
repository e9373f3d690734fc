/// SeamlessTestKit: what the multi-process tests share: starting a built executable with
/// pipes, reading its output line by line with a deadline, temporary folders, and finding the
/// package's build products.
import CSeamlessLinux
import Foundation

/// A process started by a test, its stdin and stdout on pipes the test holds. Started like
/// the coordinator starts peers (`seamless_spawn`): its own process group, signals unblocked
/// and at their defaults, whatever the test thread's mask is. (Foundation's `Process` passes
/// the spawning thread's mask on, and Dispatch threads block SIGTERM.)
public final class ChildProcess: @unchecked Sendable {
    public let pid: Int32
    private let input: CInt
    private let output: CInt
    private var pending = Data()
    private let lock = NSLock()
    private var status: Int32?
    private var inputOpen = true

    /// Starts `executable` with `arguments`; stderr goes to `stderrPath` (or is inherited).
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], stderrPath: String? = nil
    )
        throws
    {
        var commands: [CInt] = [-1, -1]
        var events: [CInt] = [-1, -1]
        guard seamless_pipe_cloexec(&commands) == 0, seamless_pipe_cloexec(&events) == 0 else {
            throw POSIXError(.EMFILE)
        }
        let log = stderrPath.map { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) } ?? -1
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            (argv + envp).forEach { free($0) }
            close(commands[0])
            close(events[1])
            if log >= 0 { close(log) }
        }
        var pid: pid_t = 0
        let result = seamless_spawn(executable, argv, envp, commands[0], events[1], log, &pid)
        guard result == 0 else {
            close(commands[1])
            close(events[0])
            throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL)
        }
        self.pid = pid
        input = commands[1]
        output = events[0]
        _ = fcntl(output, F_SETFL, fcntl(output, F_GETFL) | O_NONBLOCK)
    }

    public func write(_ text: String) {
        _ = text.withCString { Foundation.write(input, $0, strlen($0)) }
    }

    /// Closes the child's stdin (it reads EOF).
    public func closeInput() {
        lock.withLock {
            if inputOpen { close(input) }
            inputOpen = false
        }
    }

    /// The next line of stdout, or nil if none arrives before the deadline or stdout ends.
    public func nextLine(within timeout: Duration = .seconds(10)) -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                return line
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            var poller = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(
                left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            guard poll(&poller, 1, max(1, milliseconds)) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = read(output, &buffer, buffer.count)
            if count == 0 { return nil }
            if count > 0 { pending.append(contentsOf: buffer[0..<count]) }
        }
    }

    /// Reaps the child if it has ended; true while it runs.
    public var isRunning: Bool {
        lock.withLock {
            guard status == nil else { return false }
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { status = raw }
            return status == nil
        }
    }

    /// The exit code, or 128 + the signal that ended it; nil while it runs.
    public var exitStatus: Int32? {
        guard !isRunning, let raw = lock.withLock({ status }) else { return nil }
        return raw & 0x7F == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
    }

    /// Waits for the process to end; true if it did before the deadline.
    public func waitForExit(within timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isRunning, ContinuousClock.now < deadline { usleep(5_000) }
        return !isRunning
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            waitpid(pid, &raw, 0)
        }
        close(output)
        closeInput()
    }
}

/// True while a process with this pid exists and is not a zombie.
public func processIsAlive(_ pid: Int32) -> Bool { seamless_process_is_alive(pid) == 1 }

/// Waits until `condition` holds, checking every 10 ms; false if the deadline passes first.
public func eventually(within timeout: Duration, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// A new empty folder under the system's temporary folder.
public func temporaryDirectory(_ label: String = "seamless") -> String {
    let path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The folder holding this build's executables (the test bundle sits beside them).
public let buildProducts: String = {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return (me as NSString).deletingLastPathComponent
}()

/// The path of one of this build's executables (`peer`, `testbed`).
public func product(_ name: String) -> String { buildProducts + "/" + name }

/// The same wait for async tests: it suspends instead of blocking, so the cooperative pool
/// (two threads on a two-core machine) stays free for the run the test is waiting on.
public func eventually(within timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

extension ChildProcess {
    /// Waits for the process to end, suspending rather than blocking.
    public func waitForExit(within timeout: Duration) async -> Bool {
        await eventually(within: timeout) { !isRunning }
    }
}
