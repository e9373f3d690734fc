import CSeamlessLinux
import Foundation
import LinkEmulation
import OverlayCore

/// Peers on hosts of their own: `peer-N` runs in the network namespace `<prefix>-pN`, where the
/// prefix is unique to the run (`s`, the coordinator's pid and a run counter, in base 36), whose
/// only interface besides `lo` is a TUN device of the same name holding
/// `10.B.(N / 256).(N % 256)/16` (B: the run's address block). Names never repeat across runs,
/// so a run never meets another's leftovers; addresses may, since every run's namespaces sit
/// behind its own emulator. The coordinator keeps the TUN's other end, so every packet
/// between peers crosses the link emulator, and nothing reaches the root namespace or leaves
/// the machine. Needs root.
public actor NetnsLauncher: PeerLauncher {
    public nonisolated let block: Int
    /// The run-specific prefix of namespace and interface names.
    public nonisolated let prefix: String
    private let executable: String
    private let spawner: ProcessSpawner
    private let emulator: LinkEmulator
    private let links: @Sendable (PeerName) -> (up: LinkProfile, down: LinkProfile)
    private let manifest: RunManifest
    private var created: [String] = []

    init(
        block: Int, executable: String, spawner: ProcessSpawner, emulator: LinkEmulator, manifest: RunManifest,
        links: @escaping @Sendable (PeerName) -> (up: LinkProfile, down: LinkProfile)
    ) {
        self.block = block
        self.prefix = Self.nextPrefix()
        self.executable = executable
        self.spawner = spawner
        self.emulator = emulator
        self.manifest = manifest
        self.links = links
    }

    public nonisolated func address(of peer: PeerName) -> String {
        "10.\(block).\(peer.index / 256).\(peer.index % 256)"
    }

    /// The namespace and interface name of a peer (at most 15 characters: `s` + 4 pid digits +
    /// 2 counter digits + `-p65000`).
    public nonisolated func namespace(of peer: PeerName) -> String { "\(prefix)-p\(peer.index)" }

    private static let runs = Counter()

    /// `s<pid><run number>` in base 36: unique among live coordinators and their runs.
    static func nextPrefix() -> String {
        let run = String(runs.next() % (36 * 36), radix: 36)
        return prefixStart(coordinator: getpid()) + String(repeating: "0", count: 2 - run.count) + run
    }

    /// What every prefix of a run whose coordinator is `coordinator` starts with.
    static func prefixStart(coordinator: Int32) -> String {
        let pid = String(Int(coordinator) % (36 * 36 * 36 * 36), radix: 36)
        return "s" + String(repeating: "0", count: 4 - pid.count) + pid
    }

    /// Whether `name` is a peer's namespace of a run whose coordinator is `coordinator`:
    /// `s`, the coordinator's four digits, two of the run's, `-p`, the peer's number.
    static func isNamespace(_ name: String, of coordinator: Int32) -> Bool {
        let start = prefixStart(coordinator: coordinator)
        guard name.hasPrefix(start) else { return false }
        let rest = name.dropFirst(start.count)
        let run = rest.prefix(2)
        guard run.count == 2, run.allSatisfy({ $0.isASCII && ($0.isNumber || $0.isLowercase) }) else { return false }
        let peer = rest.dropFirst(2)
        return peer.hasPrefix("-p") && peer.count > 2 && peer.dropFirst(2).allSatisfy { $0.isASCII && $0.isNumber }
    }

    public func spawn(_ peer: PeerName, arguments: [String], logPath: String, manifest: RunManifest) async throws
        -> LaunchedProcess
    {
        let name = namespace(of: peer)
        if !created.contains(name) {
            try await manifest.record(.namespace(name: name))
            try Command.run(Command.ip, ["netns", "add", name])
            created.append(name)
            try Command.run(Command.ip, ["-n", name, "link", "set", "lo", "up"])
            let device = seamless_tun_open(name)
            guard device >= 0 else { throw HarnessError.system(call: "open TUN \(name)", errno: -device) }
            do {
                try Command.run(Command.ip, ["link", "set", "dev", name, "netns", name])
                try Command.run(Command.ip, ["-n", name, "addr", "add", "\(address(of: peer))/16", "dev", name])
                try Command.run(Command.ip, ["-n", name, "link", "set", name, "up"])
            } catch {
                close(device)
                throw error
            }
            let (up, down) = links(peer)
            emulator.attach(
                peer, address: 0x0A00_0000 | UInt32(block) << 16 | UInt32(peer.index), device: device, up: up,
                down: down)
        }
        return try await spawner.spawnRecorded(
            peer, executable: Command.ip, arguments: ["netns", "exec", name, executable] + arguments, logPath: logPath,
            manifest: manifest)
    }

    public nonisolated func signal(_ signal: Int32, to process: LaunchedProcess) throws {
        guard kill(process.pid, signal) == 0 else {
            throw HarnessError.system(call: "kill \(process.pid) signal \(signal)", errno: errno)
        }
    }

    public func apply(_ change: LinkChange) { emulator.apply(change) }

    /// Removes every namespace the run created (its TUN device goes with it).
    public func stop() async throws {
        var failures: [String] = []
        for name in created {
            do {
                try Command.run(Command.ip, ["netns", "del", name])
                try await manifest.record(.namespaceRemoved(name: name))
            } catch {
                failures.append("\(error)")
            }
        }
        created = []
        if !failures.isEmpty {
            throw HarnessError.command(line: "ip netns del", output: failures.joined(separator: "; "))
        }
    }

    /// Kills a dead run's peers like the loopback launcher, then removes the namespaces its
    /// manifest recorded and did not remove, by exact name.
    public static func clean(runID: String, manifest: [RunManifest.Entry]) -> [String] {
        var names: [String] = []
        for entry in manifest {
            switch entry {
            case .namespace(let name): names.append(name)
            case .namespaceRemoved(let name): names.removeAll { $0 == name }
            default: break
            }
        }
        let coordinator = manifest.coordinatorPid
        return names.map { name in
            // Only a namespace of this run, whatever else the manifest names.
            guard let coordinator, Self.isNamespace(name, of: coordinator) else {
                return "\(runID): \(name) is not a namespace of this run; left alone"
            }
            guard FileManager.default.fileExists(atPath: "/run/netns/\(name)") else {
                return "\(runID): namespace \(name) already gone"
            }
            do {
                try Command.run(Command.ip, ["netns", "del", name])
                return "\(runID): removed namespace \(name)"
            } catch {
                return "\(runID): could not remove namespace \(name): \(error)"
            }
        }
    }
}

/// A thread-safe counter.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next() -> Int {
        lock.withLock {
            value += 1
            return value
        }
    }
}
