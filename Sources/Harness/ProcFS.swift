import CSeamlessLinux
import Foundation

/// What the kernel says about a process, read from /proc.
enum ProcFS {
    /// Peak resident set size (VmHWM) in kB, or nil if the process is gone.
    static func peakResidentKB(of pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return field("VmHWM:", in: status)
    }

    /// The number after `name` in a /proc key-value file (`VmHWM:\t  23292 kB`).
    /// Finds the line without splitting the file into lines: the testbed reads every running
    /// peer's status once a second.
    static func field(_ name: String, in text: String) -> Int? {
        let value: Substring
        if text.hasPrefix(name) {
            value = text.dropFirst(name.count)
        } else if let line = text.firstRange(of: "\n" + name) {
            value = text[line.upperBound...]
        } else {
            return nil
        }
        return Int(value.drop { $0 == " " || $0 == "\t" }.prefix { $0.isASCII && $0.isNumber })
    }

    /// Proportional set size (Pss in smaps_rollup) in kB: resident pages, each shared page
    /// divided by the number of processes sharing it. Costly to read (the kernel walks the
    /// page tables), so read once per peer, at the end.
    static func proportionalKB(of pid: pid_t) -> Int? {
        guard let rollup = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8) else { return nil }
        return field("Pss:", in: rollup)
    }

    /// The process's arguments, its executable first (nil if it is gone or they are unreadable).
    static func commandLine(of pid: pid_t) -> [String]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else {
            return nil
        }
        return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// The process's start time in clock ticks since boot, or nil if it is gone. With the pid
    /// it names one process for good.
    static func startTicks(of pid: pid_t) -> Int64? {
        let ticks = seamless_process_start_ticks(pid)
        return ticks >= 0 ? Int64(ticks) : nil
    }

    /// True if `pid` is still the process that started at `start` (not exited, not reused;
    /// a zombie that was not reaped yet counts as gone).
    static func isSameProcessAlive(pid: pid_t, start: Int64) -> Bool {
        startTicks(of: pid) == start && isAlive(pid: pid)
    }

    /// True while `pid` exists and has not exited (a zombie has).
    static func isAlive(pid: pid_t) -> Bool { seamless_process_is_alive(pid) == 1 }
}
