import Foundation
import OverlayCore

/// Peers on the loopback interface: `peer-N` binds `127.<block>.<N / 256>.<N % 256>`, where the
/// block is the run's own /16, so concurrent runs never share an address and the capture
/// filter for a run is one `net` expression. No privileges needed.
public struct LoopbackLauncher: PeerLauncher {
    public let block: Int
    private let executable: String
    private let spawner: ProcessSpawner

    init(block: Int, executable: String, spawner: ProcessSpawner) {
        self.block = block
        self.executable = executable
        self.spawner = spawner
    }

    public func address(of peer: PeerName) -> String {
        "127.\(block).\(peer.index / 256).\(peer.index % 256)"
    }

    /// The run's network, for capture filters and reports.
    public var network: String { "127.\(block).0.0/16" }

    public func spawn(_ peer: PeerName, arguments: [String], logPath: String, manifest: RunManifest) async throws
        -> LaunchedProcess
    {
        try await spawner.spawnRecorded(
            peer, executable: executable, arguments: arguments, logPath: logPath, manifest: manifest)
    }

    public func signal(_ signal: Int32, to process: LaunchedProcess) throws {
        guard kill(process.pid, signal) == 0 else {
            throw HarnessError.system(call: "kill \(process.pid) signal \(signal)", errno: errno)
        }
    }

    public func stop() async throws {}

    /// Loopback has no links to change; validation keeps link steps out of loopback runs.
    public func apply(_ change: LinkChange) async throws { throw HarnessError.linksNeedNetns }

    /// Whether `arguments` (a process's command line) are those of peer `name` of the run whose
    /// coordinator is `coordinator` (`--name NAME`, `--coordinator-pid PID`).
    static func isPeer(_ name: String, of coordinator: Int32, arguments: [String]) -> Bool {
        func value(of option: String) -> String? {
            arguments.firstIndex(of: option).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
        }
        return value(of: "--name") == name && value(of: "--coordinator-pid") == "\(coordinator)"
    }

    /// Kills every recorded peer process that has no `process-ended` entry, is still the
    /// process the manifest recorded (same pid *and* start time: a reused pid is spared), and is
    /// a peer of that run (`isPeer`: a manifest cannot name any other process to kill).
    public static func clean(runID: String, manifest: [RunManifest.Entry]) -> [String] {
        var open: [Int32: (peer: String, start: Int64)] = [:]
        for entry in manifest {
            switch entry {
            case .process(let peer, let pid, let start): open[pid] = (peer, start)
            case .processEnded(_, let pid): open[pid] = nil
            default: break
            }
        }
        let coordinator = manifest.coordinatorPid
        return open.keys.sorted().map { pid in
            let (peer, start) = open[pid]!
            guard ProcFS.isSameProcessAlive(pid: pid, start: start) else {
                return "\(runID): \(peer) (pid \(pid)) already gone"
            }
            // Only a peer this run started: named so, and told this run's coordinator.
            guard let coordinator, let arguments = ProcFS.commandLine(of: pid),
                Self.isPeer(peer, of: coordinator, arguments: arguments)
            else {
                return "\(runID): pid \(pid) is not \(peer) of this run; left alone"
            }
            kill(pid, SIGKILL)
            return "\(runID): killed \(peer) (pid \(pid))"
        }
    }
}
