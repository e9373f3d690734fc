/// Harness runs a scenario for real: it creates the run folder and its manifest, launches peer
/// processes through a `PeerLauncher`, drives the timeline, records every event, and removes
/// everything it created, also when interrupted. `testbed` is a thin command line over it.

/// What can stop a run from starting or finishing, with what the user can do about it.
public enum HarnessError: Error, CustomStringConvertible, Sendable {
    /// A system call failed.
    case system(call: String, errno: Int32)
    /// The peer executable is not where it was looked for.
    case peerExecutableMissing(String)
    /// Every address block of this kind is in use by other runs.
    case noFreeNetwork
    /// A file could not be written or read.
    case file(path: String, reason: String)
    /// The launch mode is not available in this version.
    case unsupportedMode(String)
    /// The scenario shapes links, which only exist in netns mode.
    case linksNeedNetns
    /// A system command failed.
    case command(line: String, output: String)
    /// Network namespaces need root.
    case netnsNeedsRoot

    public var description: String {
        switch self {
        case .system(let call, let errno): "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .peerExecutableMissing(let path):
            "no peer executable at \(path): build it with `make build` or pass --peer PATH"
        case .noFreeNetwork: "every address block is taken by running testbed runs; wait or run `testbed clean`"
        case .file(let path, let reason): "\(path): \(reason)"
        case .command(let line, let output): "`\(line)` failed: \(output)"
        case .netnsNeedsRoot:
            "mode netns creates network namespaces and TUN devices, which needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN): run testbed as root"
        case .linksNeedNetns:
            "this scenario gives peers link profiles or changes links, which need --mode netns; loopback is one perfect network"
        case .unsupportedMode(let mode):
            "mode '\(mode)' is not available yet: network namespaces and the link emulator are the next "
                + "capability to land; use --mode loopback"
        }
    }
}

#if canImport(Glibc)
    import Glibc
#endif
