import CSeamlessLinux
import ControlProtocol
import Foundation

/// Merges every event of a run, from all peers and from the coordinator, into
/// `events.jsonl`: each line is written as it arrives (so a killed coordinator leaves a
/// readable file), and at the end the file is rewritten in time order.
actor EventRecorder {
    let path: String
    private let descriptor: CInt
    private(set) var events: [EventLine] = []
    /// The process's CPU time when the run began: a coordinator hosted by a longer-lived
    /// process (a test runner) counts only what its run used.
    private let cpuAtStart = EventRecorder.processCPUSeconds()

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw HarnessError.system(call: "open \(path)", errno: errno) }
    }

    deinit { close(descriptor) }

    /// The wall clock events are stamped with (CLOCK_REALTIME, like pcap timestamps).
    static func now() -> Timestamp { Timestamp(microseconds: seamless_realtime_microseconds()) }

    func record(_ line: EventLine) {
        events.append(line)
        let text = line.line
        _ = text.withCString { write(descriptor, $0, strlen($0)) }
    }

    /// The coordinator's CPU time since the run began, user plus system, all threads.
    nonisolated func cpuSeconds() -> Double {
        // Whole microseconds, so the number prints as written in events.jsonl.
        ((Self.processCPUSeconds() - cpuAtStart) * 1e6).rounded() / 1e6
    }

    private static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Records an event the coordinator observed now.
    func record(_ event: Event, about subject: String) {
        record(EventLine(t: Self.now(), peer: subject, event: event))
    }

    /// Rewrites the file sorted by time (stable), through a temporary file and a rename.
    func finish() throws {
        let sorted = events.enumerated().sorted { ($0.element.t, $0.offset) < ($1.element.t, $1.offset) }
        let text = sorted.map(\.element.line).joined()
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw HarnessError.file(path: path, reason: "cannot rewrite: \(error.localizedDescription)")
        }
    }
}
