import ControlProtocol
import LinkEmulation
import OverlayCore

/// How peers are put on the network and started. `LoopbackLauncher` gives each peer an
/// address on `lo`; a namespace launcher gives each its own network namespace. The timeline
/// only ever talks to this protocol, so a new kind of placement changes nothing else.
public protocol PeerLauncher: Sendable {
    /// The address a peer's overlay sockets bind on.
    func address(of peer: PeerName) -> String

    /// Creates what the peer needs (recording it in the manifest first) and starts its
    /// process with the given arguments; returns the started process's pid and pipes.
    func spawn(_ peer: PeerName, arguments: [String], logPath: String, manifest: RunManifest) async throws
        -> LaunchedProcess

    /// Sends `signal` to a peer's process.
    func signal(_ signal: Int32, to process: LaunchedProcess) throws

    /// Removes what `spawn` created for every peer (its processes have ended by then).
    func stop() async throws

    /// Changes the network while the run goes on (netns mode only).
    func apply(_ change: LinkChange) async throws

    /// Removes what a dead run of this launcher left behind, exactly as its manifest lists
    /// it; returns one line per thing found, for the user.
    static func clean(runID: String, manifest: [RunManifest.Entry]) -> [String]
}

/// What a run can ask of the emulated network while it goes on.
public enum LinkChange: Sendable {
    /// Gives one or both directions of a peer's link a profile, from the next packet on.
    case profile(PeerName, LinkProfile, up: Bool, down: Bool)
    /// Cuts connectivity between groups.
    case partition([[PeerName]])
    /// Ends every partition.
    case heal
}

/// A peer process the launcher started.
public struct LaunchedProcess: Sendable {
    public let peer: PeerName
    public let pid: Int32
    /// Write end of the peer's stdin; the caller takes ownership.
    let commandWriter: CInt
    /// Read end of the peer's stdout; the caller takes ownership.
    let eventReader: CInt
    /// When the process was started, on the events' clock.
    public let startedAt: Timestamp
}
