import CSeamlessLinux
import Foundation

/// Runs a system command (`ip netns add ...`) to completion. A failure throws with the command
/// line and what it printed on stderr: a failed `ip` command is never logged and ignored.
enum Command {
    /// Where `ip` is.
    static let ip: String =
        ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { access($0, X_OK) == 0 } ?? "ip"

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        var output: [CInt] = [-1, -1]
        guard seamless_pipe_cloexec(&output) == 0 else { throw HarnessError.system(call: "pipe2", errno: errno) }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = seamless_spawn(executable, argv, environ, -1, output[1], output[1], &pid)
        close(output[1])
        guard spawned == 0 else {
            close(output[0])
            throw HarnessError.system(call: "posix_spawn \(executable)", errno: spawned)
        }
        var text = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(output[0], &buffer, buffer.count)
            if count <= 0 { break }
            text.append(contentsOf: buffer[0..<count])
        }
        close(output[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let printed = String(decoding: text, as: UTF8.self)
        guard status == 0 else {
            throw HarnessError.command(
                line: ([executable] + arguments).joined(separator: " "),
                output: printed.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return printed
    }
}
