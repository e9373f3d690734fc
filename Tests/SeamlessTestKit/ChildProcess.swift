/// SeamlessTestKit: what the multi-process tests share: starting a built executable with
/// pipes, reading its output line by line with a deadline, temporary folders, and finding the
/// package's build products.
import Foundation

/// A process started by a test, its stdin and stdout on pipes the test holds.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var pending = Data()

    /// Starts `executable` with `arguments`; stderr goes to `stderrPath` (or is inherited).
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], stderrPath: String? = nil)
        throws
    {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = input
        process.standardOutput = output
        if let stderrPath {
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: stderrPath)
        }
        try process.run()
        let descriptor = output.fileHandleForReading.fileDescriptor
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    public var pid: Int32 { process.processIdentifier }

    public func write(_ text: String) {
        input.fileHandleForWriting.write(Data(text.utf8))
    }

    /// Closes the child's stdin (it reads EOF).
    public func closeInput() {
        try? input.fileHandleForWriting.close()
    }

    /// The next line of stdout, or nil if none arrives before the deadline or stdout ends.
    public func nextLine(within timeout: Duration = .seconds(10)) -> String? {
        let deadline = ContinuousClock.now + timeout
        let descriptor = output.fileHandleForReading.fileDescriptor
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                return line
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            guard poll(&poller, 1, max(1, milliseconds)) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = read(descriptor, &buffer, buffer.count)
            if count == 0 { return nil }
            if count > 0 { pending.append(contentsOf: buffer[0..<count]) }
        }
    }

    /// Waits for the process to end; true if it did before the deadline.
    public func waitForExit(within timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { usleep(5_000) }
        return !process.isRunning
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// True while a process with this pid exists and is not a zombie.
public func processIsAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(close, offsetBy: 2)...].first
    return state != "Z" && state != "X"
}

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
