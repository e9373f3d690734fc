import Foundation

/// `testbed clean`: finds runs whose coordinator died without closing its manifest and has
/// each launcher remove what that manifest lists. A run whose coordinator is still alive
/// (same pid and start time) is left alone.
public enum Cleaner {
    /// Every kind of launcher; each removes its own kind of leftovers.
    /// Processes first (they live in the namespaces), then namespaces.
    static let launchers: [any PeerLauncher.Type] = [LoopbackLauncher.self, NetnsLauncher.self]

    /// What one clean did, as lines for the user.
    public struct Outcome: Sendable {
        public var actions: [String] = []
        public var runsCleaned = 0
        public var runsStillRunning = 0
    }

    public static func clean(stateDirectory: StateDirectory, manifests extra: [String] = []) async -> Outcome {
        var outcome = Outcome()
        let registered = stateDirectory.registeredRuns()
        // An extra manifest is named by its run folder (`<folder>/manifest.jsonl`).
        let runs =
            registered.map { ($0.runID, $0.manifest) }
            + extra.map { ((($0 as NSString).deletingLastPathComponent as NSString).lastPathComponent, $0) }
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
            for launcher in launchers { outcome.actions += launcher.clean(runID: runID, manifest: entries) }
            if let manifest = try? RunManifest(path: path) { try? await manifest.record(.closed) }
            stateDirectory.unregister(runID: runID)
            outcome.runsCleaned += 1
        }
        return outcome
    }
}
