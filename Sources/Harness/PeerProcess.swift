import ControlProtocol
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import OverlayCore
import Scenario

/// Why a peer process ended, as the coordinator judges it (the `cause` of `exited`).
enum EndCause: String, Sendable {
    case left, crashed, stopped, killed, failed
}

/// One peer process as the coordinator sees it. It owns the process's pipes, turns its event
/// lines into recorded events, knows why the process is expected to end, and reaps it.
actor PeerProcess {
    nonisolated let name: PeerName
    nonisolated let process: LaunchedProcess
    nonisolated let address: String
    private let launcher: any PeerLauncher
    private let recorder: EventRecorder
    private let membership: Membership
    private let manifest: RunManifest
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var writer: NIOAsyncChannelOutboundWriter<ByteBuffer>?
    private var expectedEnd: EndCause?
    private var escalated = false
    /// A crash at a phase was armed: a SIGKILL is the crash it asked for.
    private var armedCrash = false
    /// A hang at a phase was armed: the peer may be stopped, so the end of the run wakes it.
    private var armedPause = false
    private var peakResidentKB = 0
    private var proportionalKB: Int?
    private(set) var ended = false
    /// Joins retried after `dht-join-failed`.
    private var joinRetries = 0

    private init(
        process: LaunchedProcess, address: String, launcher: any PeerLauncher, recorder: EventRecorder,
        membership: Membership, manifest: RunManifest, channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    ) {
        self.name = process.peer
        self.process = process
        self.address = address
        self.launcher = launcher
        self.recorder = recorder
        self.membership = membership
        self.manifest = manifest
        self.channel = channel
    }

    /// Wraps a launched process's pipes in a line-framed channel.
    static func attach(
        _ process: LaunchedProcess, address: String, launcher: any PeerLauncher, recorder: EventRecorder,
        membership: Membership, manifest: RunManifest, group: any EventLoopGroup
    ) async throws -> PeerProcess {
        let channel = try await NIOPipeBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .takingOwnershipOfDescriptors(input: process.eventReader, output: process.commandWriter) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return PeerProcess(
            process: process, address: address, launcher: launcher, recorder: recorder, membership: membership,
            manifest: manifest, channel: channel)
    }

    /// Reads the peer's events until its stdout closes, then reaps it and records how it
    /// ended. Returns when the process is gone.
    func run() async {
        do {
            try await channel.executeThenClose { inbound, outbound in
                self.writer = outbound
                for try await var buffer in inbound {
                    await self.receive(buffer.readString(length: buffer.readableBytes) ?? "")
                }
                self.writer = nil
            }
        } catch {
            await recorder.record(.error(message: "control channel failed: \(error)"), about: name.description)
        }
        writer = nil
        let status = await reap()
        ended = true
        let cause =
            escalated
            ? EndCause.killed : armedCrash && status.signal == Int(SIGKILL) ? .crashed : (expectedEnd ?? .failed)
        if cause == .crashed { await membership.leftRing(name) }
        try? await manifest.record(.processEnded(peer: name.description, pid: process.pid))
        await recorder.record(
            .exited(
                status: status.exitCode, signal: status.signal, cause: cause.rawValue, maxRssKB: peakResidentKB,
                pssKB: proportionalKB, cpuMs: status.cpuMs),
            about: name.description)
        await membership.ended(name)
    }

    private func receive(_ text: String) async {
        guard !text.isEmpty else { return }
        guard let line = try? EventLine(line: text) else {
            await recorder.record(
                .error(message: "unreadable event line: \(text.prefix(200))"), about: name.description)
            return
        }
        // The coordinator knows which pipe the line came from; that name is authoritative.
        await recorder.record(EventLine(t: line.t, peer: name.description, event: line.event))
        switch line.event {
        case .ready(_, let address, let tcpPort, _):
            await membership.becameReady(name, overlay: "\(address):\(tcpPort)")
            if let bootstrap = await membership.bootstrapForNewcomer(name) { await send(.join(bootstrap: bootstrap)) }
        case .dhtJoined:
            await membership.joinedRing(name)
        case .dhtJoinFailed where joinRetries < 3:
            // Its bootstrap did not answer (it may have just left): try through another member.
            joinRetries += 1
            if let bootstrap = await membership.bootstrap(for: name) { await send(.join(bootstrap: bootstrap)) }
        case .leaving, .stopping:
            // No longer a member to look up from or join through.
            await membership.leftRing(name)
        case .deployed(let service, _, _, _):
            await membership.serves(service, name)
        case .migrationPhase(_, let service, _, let to, let phase)
        where to == name.description && MigrationPhase(rawValue: phase).map(MigrationPhase.serving.contains) == true:
            await membership.serves(service, name)
        case .failover(let service, _, let to, _, _, _) where to == name.description:
            await membership.serves(service, name)
        case .standbys(let service, _, _, let peers):
            await membership.standbys(of: service, are: peers.compactMap(PeerName.init))
        default:
            break
        }
    }

    /// Sends one command; a peer that is already gone is not an error.
    func send(_ command: PeerCommand) async {
        try? await writer?.write(ByteBuffer(string: command.line))
    }

    /// Asks the peer to leave gracefully.
    func leave() async {
        expectedEnd = .left
        await recorder.record(.leaveSent, about: name.description)
        await send(.leave)
    }

    /// SIGKILL as a scripted crash.
    func crash() async {
        expectedEnd = .crashed
        await recorder.record(.crashSent, about: name.description)
        await membership.leftRing(name)
        try? launcher.signal(SIGKILL, to: process)
    }

    /// Arms a fault at a migration phase in the peer (`fault-at`): it SIGKILLs (`crash`) or
    /// SIGSTOPs (`pause`) itself then.
    func armFault(_ action: HostFault.Action, service: String, phase: String) async {
        if action == .crash { armedCrash = true } else { armedPause = true }
        await recorder.record(
            .faultArmed(service: service, phase: phase, action: action.rawValue), about: name.description)
        await send(.faultAt(service: service, phase: phase, action: action.rawValue))
    }

    func pause() async {
        try? launcher.signal(SIGSTOP, to: process)
        await recorder.record(.paused, about: name.description)
        await membership.setPaused(name, true)
    }

    func resume() async {
        try? launcher.signal(SIGCONT, to: process)
        await recorder.record(.resumed, about: name.description)
        await membership.setPaused(name, false)
    }

    /// The end of the run: measure the peer's proportional memory while every peer still
    /// shares its pages, then wake it if paused and tell it to shut down.
    func stop() async {
        guard !ended else { return }
        // A process that already exited on its own (a zombie not reaped yet) was not stopped
        // by us: its end stays `failed`.
        guard ProcFS.isAlive(pid: process.pid) else { return }
        sampleMemory()
        proportionalKB = ProcFS.proportionalKB(of: process.pid)
        if expectedEnd == nil { expectedEnd = .stopped }
        if await membership.isPaused(name) || armedPause { try? launcher.signal(SIGCONT, to: process) }
        await send(.shutdown)
    }

    /// Kills a peer that did not end when asked.
    func escalate() {
        guard !ended else { return }
        escalated = true
        try? launcher.signal(SIGKILL, to: process)
    }

    /// Samples the kernel's peak resident size of the process.
    func sampleMemory() {
        guard !ended, let peak = ProcFS.peakResidentKB(of: process.pid) else { return }
        peakResidentKB = max(peakResidentKB, peak)
    }

    /// Waits for the process to exit (its stdout has closed, so it is ending), killing it if
    /// it lingers; bounded to a few seconds.
    private func reap() async -> ExitStatus {
        sampleMemory()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(3)
        var status: Int32 = 0
        var usage = rusage()
        while true {
            let result = wait4(process.pid, &status, WNOHANG, &usage)
            if result == process.pid { return ExitStatus(raw: status, usage: usage) }
            if result < 0 { return ExitStatus(exitCode: nil, signal: nil) }
            if clock.now > deadline {
                escalated = true
                kill(process.pid, SIGKILL)
                wait4(process.pid, &status, 0, &usage)
                return ExitStatus(raw: status, usage: usage)
            }
            try? await clock.sleep(for: .milliseconds(5))
        }
    }
}

/// How a process ended: an exit code or a signal, and the CPU time it used if the kernel said.
struct ExitStatus {
    var exitCode: Int?
    var signal: Int?
    var cpuMs: Int?

    init(exitCode: Int?, signal: Int?) {
        self.exitCode = exitCode
        self.signal = signal
    }

    /// A wait status as `wait4` gives it, and the process's resource usage.
    init(raw: Int32, usage: rusage) {
        // WIFEXITED / WTERMSIG, which Swift does not import (they are macros).
        if raw & 0x7f == 0 {
            self.init(exitCode: Int((raw >> 8) & 0xff), signal: nil)
        } else {
            self.init(exitCode: nil, signal: Int(raw & 0x7f))
        }
        func milliseconds(_ time: timeval) -> Int { Int(time.tv_sec) * 1000 + Int(time.tv_usec) / 1000 }
        cpuMs = milliseconds(usage.ru_utime) + milliseconds(usage.ru_stime)
    }
}
