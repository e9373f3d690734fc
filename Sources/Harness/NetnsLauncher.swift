import CSeamlessLinux
import Foundation
import LinkEmulation
import OverlayCore

/// Peers on hosts of their own: `peer-N` runs in the network namespace `sbB-pN` (B: the run's
/// address block), whose only interface besides `lo` is a TUN device of the same name holding
/// `10.B.(N / 256).(N % 256)/16`. The coordinator keeps the TUN's other end, so every packet
/// between peers crosses the link emulator, and nothing reaches the root namespace or leaves
/// the machine. Needs root.
public actor NetnsLauncher: PeerLauncher {
    public nonisolated let block: Int
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
        self.executable = executable
        self.spawner = spawner
        self.emulator = emulator
        self.manifest = manifest
        self.links = links
    }

    public nonisolated func address(of peer: PeerName) -> String {
        "10.\(block).\(peer.index / 256).\(peer.index % 256)"
    }

    /// The namespace and interface name of a peer (at most 15 characters: `sb199-p65000`).
    public nonisolated func namespace(of peer: PeerName) -> String { "sb\(block)-p\(peer.index)" }

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
        try await manifest.record(.spawning(peer: peer.description))
        let started = try await spawner.spawn(
            executable: Command.ip, arguments: ["netns", "exec", name, executable] + arguments, logPath: logPath)
        try await manifest.record(
            .process(peer: peer.description, pid: started.pid, start: ProcFS.startTicks(of: started.pid) ?? -1))
        return LaunchedProcess(
            peer: peer, pid: started.pid, commandWriter: started.commandWriter, eventReader: started.eventReader,
            startedAt: started.startedAt)
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

    /// True if namespaces of this block exist (a dead run's, not cleaned yet).
    static func hasLeftovers(block: Int) -> Bool {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        return names.contains { $0.hasPrefix("sb\(block)-") }
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
        return names.map { name in
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
