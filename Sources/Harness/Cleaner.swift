import Foundation

/// `testbed clean`: removes what runs whose coordinator died left behind, exactly as their
/// manifests list it. A process is killed only if its pid still names the process the
/// manifest recorded (same start time), so a reused pid is never touched; a run whose
/// coordinator is still alive is left alone.
public enum Cleaner {
    /// What one clean did, as lines for the user.
    public struct Outcome: Sendable {
        public var actions: [String] = []
        public var runsCleaned = 0
        public var runsStillRunning = 0
    }

    public static func clean(stateDirectory: StateDirectory, manifests extra: [String] = []) async -> Outcome {
        var outcome = Outcome()
        let registered = stateDirectory.registeredRuns()
        let runs = registered.map { ($0.runID, $0.manifest) } + extra.map { (($0 as NSString).lastPathComponent, $0) }
        for (runID, path) in runs {
            guard let entries = try? RunManifest.read(path: path) else {
                outcome.actions.append("\(runID): manifest \(path) is gone; forgetting the run")
                stateDirectory.unregister(runID: runID)
                continue
            }
            if entries.contains(.closed) {
                stateDirectory.unregister(runID: runID)
                continue
            }
            if case .run(_, _, let pid, let start)? = entries.first, ProcFS.isSameProcessAlive(pid: pid, start: start) {
                outcome.actions.append("\(runID): still running (coordinator pid \(pid)); left alone")
                outcome.runsStillRunning += 1
                continue
            }
            for leftover in leftovers(entries) {
                outcome.actions.append(remove(leftover, runID: runID))
            }
            if let manifest = try? RunManifest(path: path) { try? await manifest.record(.closed) }
            stateDirectory.unregister(runID: runID)
            outcome.runsCleaned += 1
        }
        return outcome
    }

    /// A thing a manifest says the run created and did not remove.
    enum Leftover: Equatable {
        case process(peer: String, pid: Int32, start: Int64)
    }

    static func leftovers(_ entries: [RunManifest.Entry]) -> [Leftover] {
        var processes: [Int32: Leftover] = [:]
        for entry in entries {
            switch entry {
            case .process(let peer, let pid, let start): processes[pid] = .process(peer: peer, pid: pid, start: start)
            case .processEnded(_, let pid): processes[pid] = nil
            default: break
            }
        }
        return processes.keys.sorted().compactMap { processes[$0] }
    }

    static func remove(_ leftover: Leftover, runID: String) -> String {
        switch leftover {
        case .process(let peer, let pid, let start):
            guard ProcFS.isSameProcessAlive(pid: pid, start: start) else {
                return "\(runID): \(peer) (pid \(pid)) already gone"
            }
            kill(pid, SIGKILL)
            return "\(runID): killed \(peer) (pid \(pid))"
        }
    }
}
