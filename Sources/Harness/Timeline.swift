import ControlProtocol
import Foundation
import LinkEmulation
import NIOCore
import OverlayCore
import Scenario
import ServiceLifecycle

/// A unit of work the timeline hands to the run's task group (a peer's event loop, a
/// watchdog, a sampler): every task of a run is a child of that group, none is detached.
typealias Job = @Sendable () async -> Void

/// Runs a plan's actions on time, on the scenario clock: wall time since the start minus the
/// time spent in `wait` steps. Owns the run's membership view and, at the end, stops every peer.
actor Timeline {
    struct Context: Sendable {
        let scenario: Scenario
        let plan: TimelinePlan
        let folder: RunFolder
        let launcher: any PeerLauncher
        let peerExecutableArguments: @Sendable (PeerName, String) -> [String]
        let recorder: EventRecorder
        let manifest: RunManifest
        let membership: Membership
        let group: any EventLoopGroup
        let jobs: AsyncStream<Job>.Continuation
        let progress: ProgressDisplay
        /// The links' profiles (netns mode; nil on loopback).
        let links: LinkPlan?
    }

    /// How the timeline ended (`unfinished` is never one: a timeline that returns has ended).
    typealias Ending = RunOutcome

    /// How long a peer gets to leave or stop before it is killed.
    static let gracePeriod: Duration = .seconds(5)
    /// A leaving peer first hands its services over, for up to 8 s (`PeerNode.handoverBound`).
    static let leaveGracePeriod: Duration = .seconds(8) + gracePeriod

    private let context: Context
    private let clock = ContinuousClock()
    private var started: ContinuousClock.Instant?
    private var waited: Duration = .zero
    private var waitingSince: ContinuousClock.Instant?
    private(set) var currentStep = "starting"
    private(set) var isFinished = false
    /// How the run ended, once it has.
    private(set) var ending: Ending?

    init(context: Context) { self.context = context }

    /// Scenario-clock time since the start.
    var elapsed: Duration {
        guard let started else { return .zero }
        let now = clock.now
        return now - started - waited - (waitingSince.map { now - $0 } ?? .zero)
    }

    /// Runs the plan, then stops every peer that is still running; sets `ending`.
    /// Never throws: every failure is recorded and ends the run in order.
    func run() async {
        started = clock.now
        context.jobs.yield { [self] in await self.sampleMemoryUntilFinished() }
        context.progress.start(self)
        var ending: Ending
        do {
            ending = try await cancelWhenGracefulShutdown { try await self.runActions() }
        } catch {
            ending = .interrupted
            await context.recorder.record(.error(message: "run interrupted"), about: EventLine.runSubject)
        }
        currentStep = "stopping peers"
        await stopAllPeers()
        isFinished = true
        self.ending = ending
        context.progress.finish()
    }

    private func runActions() async throws -> Ending {
        var lastStep = -1
        for action in context.plan.actions {
            try await clock.sleep(until: started! + waited + action.at)
            if action.stepIndex != lastStep {
                lastStep = action.stepIndex
                let step = context.scenario.steps[action.stepIndex]
                currentStep = step.action.summary
                await context.recorder.record(
                    .step(index: action.stepIndex, action: currentStep, cpuSeconds: context.recorder.cpuSeconds()),
                    about: EventLine.runSubject)
                context.progress.step(
                    index: action.stepIndex, of: context.scenario.steps.count, currentStep, at: elapsed)
            }
            switch action.kind {
            case .spawn(let name): await spawn(name)
            case .leave(let name): await leave(name)
            case .crash(let name): await context.membership.process(name)?.crash()
            case .pause(let name): await context.membership.process(name)?.pause()
            case .resume(let name): await context.membership.process(name)?.resume()
            case .hostFault(let fault): await hostFault(fault)
            case .waitReady(let timeout):
                guard try await waitUntilReady(timeout: timeout) else { return .failed }
            case .stop: return .completed
            case .link(let peer, let name, let direction):
                let profile = context.links?.profile(name) ?? .zero
                try? await context.launcher.apply(
                    .profile(peer, profile, up: direction != .down, down: direction != .up))
                await context.recorder.record(
                    .linkChanged(profile: name, direction: direction.rawValue), about: peer.description)
            case .partition(let groups):
                try? await context.launcher.apply(.partition(groups))
                await context.recorder.record(
                    .partitioned(groups: groups.map { $0.map(\.description) }), about: EventLine.runSubject)
            case .heal:
                try? await context.launcher.apply(.heal)
                await context.recorder.record(.healed, about: EventLine.runSubject)
            case .join(let names, let via):
                await join(names, via: via)
            case .lookups(let count, let rate, let from):
                let random = SeededGenerator(seed: context.plan.seed).derived("lookups-\(action.stepIndex)")
                context.jobs.yield { [self] in await self.lookUp(count: count, rate: rate, from: from, random: random) }
            case .register(let peer, let service, let lease):
                let epoch = await context.membership.nextEpoch(of: service)
                await context.membership.process(peer)?.send(
                    .register(service: service, epoch: epoch, leaseSeconds: lease.inSeconds))
            case .resolve(let peer, let service):
                await context.membership.process(peer)?.send(.resolve(service: service))
            case .deploy(let peer, let service, let kind, let replicas):
                await context.membership.process(peer)?.send(.deploy(service: service, kind: kind, replicas: replicas))
            case .migrate(let service, let target):
                await migrate(service, to: target)
            case .client(let peer, let spec):
                await context.membership.process(peer)?.send(
                    .client(
                        service: spec.service, kind: spec.kind, folder: TestbedRun.absolute(context.folder.audio),
                        parameters: spec.parameters.mapValues(\.json)))
            }
        }
        try await clock.sleep(until: started! + waited + context.plan.end)
        return .completed
    }

    private func spawn(_ name: PeerName) async {
        let address = context.launcher.address(of: name)
        do {
            let launched = try await context.launcher.spawn(
                name, arguments: context.peerExecutableArguments(name, address),
                logPath: context.folder.peerLog(name.description), manifest: context.manifest)
            let process = try await PeerProcess.attach(
                launched, address: address, launcher: context.launcher, recorder: context.recorder,
                membership: context.membership, manifest: context.manifest, group: context.group)
            await context.membership.add(process)
            await context.recorder.record(
                EventLine(
                    t: launched.startedAt, peer: name.description,
                    event: .spawned(pid: Int(launched.pid), address: address)))
            if let (up, down) = context.links?.names(of: name) {
                for (direction, profile) in [("up", up), ("down", down)] {
                    guard let profile else { continue }
                    await context.recorder.record(
                        .linkAssigned(profile: profile, direction: direction), about: name.description)
                }
            }
            context.jobs.yield { await process.run() }
        } catch {
            await context.recorder.record(.spawnFailed(message: "\(error)"), about: name.description)
        }
    }

    /// Tells the peer serving `service` now to move it to `target`; a migration that cannot
    /// start (no host known, the target not ready) is recorded as an error.
    private func migrate(_ service: String, to target: PeerName) async {
        guard let host = await context.membership.host(of: service),
            let process = await context.membership.process(host)
        else {
            return await context.recorder.record(
                .error(message: "migrate \(service): no peer is known to serve it"), about: EventLine.runSubject)
        }
        guard let address = await context.membership.overlayAddress(of: target) else {
            return await context.recorder.record(
                .error(message: "migrate \(service): \(target) is not ready"), about: EventLine.runSubject)
        }
        await process.send(.migrate(service: service, to: target.description, address: address))
    }

    /// A fault aimed at whoever hosts the service now (or at its first standby); a crash at a
    /// phase is armed in that peer, which crashes itself when its next migration of the service
    /// reaches the phase.
    private func hostFault(_ fault: HostFault) async {
        let membership = context.membership
        guard
            let host = fault.replica
                ? await membership.standbys(of: fault.service).first : await membership.host(of: fault.service),
            let process = await membership.process(host)
        else {
            return await context.recorder.record(
                .error(
                    message:
                        "\(fault.summary): no running peer is known to \(fault.replica ? "stand by for" : "host") it"),
                about: EventLine.runSubject)
        }
        switch (fault.action, fault.atPhase) {
        case (.leave, _): await leave(host)
        case (.crash, nil): await process.crash()
        case (.pause, nil): await process.pause()
        case (let action, let phase?): await process.armFault(action, service: fault.service, phase: phase)
        }
    }

    private func leave(_ name: PeerName) async {
        guard let process = await context.membership.process(name) else { return }
        await process.leave()
        context.jobs.yield { [clock] in
            // A peer that does not finish leaving in time is killed (and counted as killed).
            let deadline = clock.now + Self.leaveGracePeriod
            while clock.now < deadline, await !process.ended, !Task.isCancelled {
                try? await clock.sleep(for: .milliseconds(20))
            }
            await process.escalate()
        }
    }

    /// Peers join the DHT. The ring's first member (`via`, or else the first peer) creates it,
    /// and the others are told to join only once it is in (or 2 s have passed).
    private func join(_ names: [PeerName], via: PeerName?) async {
        let membership = context.membership
        await membership.startDHT()
        var order = names
        if let via, await !membership.isInRing(via) {
            order.removeAll { $0 == via }
            order.insert(via, at: 0)
        }
        for name in order {
            guard let process = await membership.process(name), await !membership.isInRing(name) else { continue }
            let bootstrap: String? =
                if let via, via != name { await membership.overlayAddress(of: via) } else {
                    await membership.bootstrap(for: name)
                }
            await process.send(.join(bootstrap: bootstrap))
            if bootstrap == nil {
                let deadline = clock.now + .seconds(2)
                while clock.now < deadline, await !membership.isInRing(name) {
                    try? await clock.sleep(for: .milliseconds(5))
                }
            }
        }
    }

    /// A `lookups` step: random keys from random ring members, `rate` a second, until `count`
    /// were sent or the run is over.
    private func lookUp(count: Int, rate: Double, from: [PeerName]?, random: SeededGenerator) async {
        var random = random
        let start = clock.now
        for index in 0..<count {
            guard !isFinished, !Task.isCancelled else { return }
            try? await clock.sleep(until: start + .seconds(Double(index) / rate))
            var members = await context.membership.ringMembers()
            if let from { members = members.filter(from.contains) }
            let key = (0..<20).map { _ in
                let byte = String(UInt8(truncatingIfNeeded: random.next()), radix: 16)
                return byte.count == 1 ? "0" + byte : byte
            }.joined()
            guard !members.isEmpty else { continue }
            let peer = members[Int(random.next() % UInt64(members.count))]
            await context.membership.process(peer)?.send(.lookup(key: key))
        }
    }

    /// The `wait: ready` barrier: stops the scenario clock until every running peer is ready.
    private func waitUntilReady(timeout: Duration) async throws -> Bool {
        let since = clock.now
        waitingSince = since
        defer {
            waited += clock.now - since
            waitingSince = nil
        }
        let deadline = since + timeout
        while clock.now < deadline {
            if await context.membership.notReady().isEmpty { return true }
            try await clock.sleep(for: .milliseconds(10))
        }
        let missing = await context.membership.notReady()
        guard missing.isEmpty else {
            await context.recorder.record(
                .waitTimeout(waitingFor: missing.map(\.description)), about: EventLine.runSubject)
            return false
        }
        return true
    }

    /// Shuts every running peer down; kills those that do not end within the grace period.
    /// A cancelled run (a second Ctrl-C) kills at once.
    private func stopAllPeers() async {
        for process in await context.membership.running() { await process.stop() }
        if await waitUntilAllEnded(timeout: Self.gracePeriod) { return }
        for process in await context.membership.running() { await process.escalate() }
        _ = await waitUntilAllEnded(timeout: .seconds(3))
    }

    private func waitUntilAllEnded(timeout: Duration) async -> Bool {
        let deadline = clock.now + timeout
        while clock.now < deadline, !Task.isCancelled {
            if await context.membership.counts.running == 0 { return true }
            try? await clock.sleep(for: .milliseconds(10))
        }
        return await context.membership.counts.running == 0
    }

    /// Samples every running peer's peak memory once a second until the run is over; wakes
    /// every 50 ms so the run does not wait for a sampling pause to end.
    private func sampleMemoryUntilFinished() async {
        var nextSample = clock.now
        while !isFinished, !Task.isCancelled {
            if clock.now >= nextSample {
                for process in await context.membership.running() { await process.sampleMemory() }
                nextSample = clock.now + .seconds(1)
            }
            try? await clock.sleep(for: .milliseconds(50))
        }
    }
}

extension ClientParameter.Value {
    /// The value in a `client` command.
    var json: JSONValue {
        switch self {
        case .text(let text): .string(text)
        case .number(let number): .number(number)
        }
    }
}
