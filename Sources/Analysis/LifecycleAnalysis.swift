import ControlProtocol

extension RunReport {
    /// Builds the report's lifecycle figures from a run's events (in any order).
    public init(events unordered: [EventLine], malformedEventLines: Int = 0) {
        let events = unordered.enumerated().sorted {
            ($0.element.t, $0.offset) < ($1.element.t, $1.offset)
        }.map(\.element)
        var summary = RunSummary(
            scenario: "", seed: "", mode: "", start: events.first?.t.seconds ?? 0,
            end: events.last?.t.seconds ?? 0, elapsedSeconds: 0, plannedSeconds: 0,
            outcome: RunOutcome.unfinished.rawValue,
            peerErrors: 0, malformedEventLines: malformedEventLines)
        var peers: [String: PeerSummary] = [:]
        var order: [String] = []
        var rssKB: [String: Int] = [:]
        var pss: [Double] = []
        // Durations come from whole microseconds: differences of Unix-time doubles lose them.
        var spawnedAt: [String: Int64] = [:]
        var readyAt: [String: Int64] = [:]
        func milliseconds(_ from: Int64, _ to: Int64) -> Double { Double(to - from) / 1000 }
        var firstSpawnStep: (t: Int64, peers: [String])?
        var steps: [(t: Double, action: String)] = []
        var links: [LinkFigures] = []
        var linkProfiles: [String: (file: String, parameters: [String: JSONValue])] = [:]
        var linkStarts: [String: String] = [:]  // "peer up" -> profile
        var linkChanges: [String: [LinkFigures.LinkChange]] = [:]
        // Coordinator CPU marks: (time, cumulative CPU seconds, the step that starts there).
        var cpuMarks: [(t: Int64, cpu: Double, step: (index: Int, action: String)?)] = []
        var inFirstSpawnStep = false
        /// When the step under way began: the first step that spawns peers starts the clock of
        /// `startup`, whatever its kind (spawn or churn).
        var stepStarted: Int64?

        for line in events {
            let name = line.peer
            func update(_ change: (inout PeerSummary) -> Void) {
                if peers[name] == nil {
                    peers[name] = PeerSummary(name: name, end: "running")
                    order.append(name)
                }
                change(&peers[name]!)
            }
            switch line.event {
            case .runStarted(let scenario, let seed, let mode, let planned):
                summary.scenario = scenario
                summary.seed = String(seed)
                summary.mode = mode
                summary.plannedSeconds = planned
            case .runEnded(let reason, let elapsed, let cpu):
                summary.outcome = reason
                summary.elapsedSeconds = elapsed
                cpuMarks.append((line.t.microseconds, cpu, nil))
            case .step(let index, let action, let cpu):
                cpuMarks.append((line.t.microseconds, cpu, (index, action)))
                steps.append((line.t.seconds, action))
                stepStarted = line.t.microseconds
                inFirstSpawnStep = false
            case .spawned(let pid, let address):
                spawnedAt[name] = line.t.microseconds
                update {
                    $0.pid = pid
                    $0.address = address
                    $0.spawnedAt = line.t.seconds
                }
                if firstSpawnStep == nil {
                    firstSpawnStep = (stepStarted ?? line.t.microseconds, [])
                    inFirstSpawnStep = true
                }
                if inFirstSpawnStep { firstSpawnStep?.peers.append(name) }
            case .spawnFailed:
                update { $0.end = "failed" }
            case .ready:
                if readyAt[name] == nil { readyAt[name] = line.t.microseconds }
            case .exited(_, _, let cause, let maxRssKB, let pssKB, let cpuMs):
                if let pssKB { pss.append(Double(pssKB) / 1024) }
                update { peer in
                    peer.end = cause
                    peer.pssMB = pssKB.map { Double($0) / 1024 }
                    peer.cpuSeconds = cpuMs.map { Double($0) / 1000 }
                    if let spawned = spawnedAt[name] {
                        peer.uptimeSeconds = milliseconds(spawned, line.t.microseconds) / 1000
                    }
                    if maxRssKB > 0 { peer.maxRssMB = Double(maxRssKB) / 1024 }
                }
                rssKB[name] = maxRssKB
            case .error:
                summary.peerErrors += 1
            case .linkProfile(let profile, let file, let parameters):
                linkProfiles[profile] = (file, parameters)
            case .linkAssigned(let profile, let direction):
                linkStarts["\(name) \(direction)"] = profile
            case .linkChanged(let profile, let direction):
                steps.append((line.t.seconds, "\(name) \(direction) \(profile)"))
                for changed in direction == "both" ? ["up", "down"] : [direction] {
                    linkChanges["\(name) \(changed)", default: []].append(.init(t: line.t.seconds, profile: profile))
                }
            case .partitioned:
                steps.append((line.t.seconds, "partition"))
            case .healed:
                steps.append((line.t.seconds, "heal"))
            case .linkCounters(let direction, let counts):
                links.append(
                    LinkFigures(
                        peer: name, direction: direction, packets: counts["packets"] ?? 0,
                        delivered: counts["delivered"] ?? 0, lost: counts["lost"] ?? 0,
                        queueDrops: counts["queueDrops"] ?? 0, tooBig: counts["tooBig"] ?? 0,
                        duplicated: counts["duplicated"] ?? 0, reordered: counts["reordered"] ?? 0,
                        partitioned: counts["partitioned"] ?? 0, unrouted: counts["unrouted"] ?? 0))
            case .migrationPhase(let migration, _, _, _, let phase):
                steps.append((line.t.seconds, "\(migration) \(phase)"))
            default:
                break
            }
        }

        // A peer can report ready before the coordinator stamps its spawn (the child ran before
        // posix_spawn returned to the parent): it was ready at once.
        for (name, ready) in readyAt {
            if let spawned = spawnedAt[name] { peers[name]?.readyMs = max(0, milliseconds(spawned, ready)) }
        }
        let list = order.compactMap { peers[$0] }
        func count(_ end: String) -> Int { list.filter { $0.end == end }.count }
        let rss = rssKB.values.filter { $0 > 0 }.map { Double($0) / 1024 }
        let cpu = list.compactMap(\.cpuSeconds)
        let cpuShares = list.compactMap { peer -> Double? in
            guard let seconds = peer.cpuSeconds, let uptime = peer.uptimeSeconds, uptime > 0 else { return nil }
            return seconds / uptime * 100
        }
        let figures = PeerFigures(
            spawned: list.filter { $0.spawnedAt != nil }.count, left: count("left"), crashed: count("crashed"),
            stopped: count("stopped"), killed: count("killed"), failed: count("failed"),
            maxRssMB: rss.max() ?? 0, meanRssMB: rss.isEmpty ? 0 : rss.reduce(0, +) / Double(rss.count),
            meanPssMB: pss.isEmpty ? 0 : pss.reduce(0, +) / Double(pss.count), maxPssMB: pss.max() ?? 0,
            totalPssMB: pss.reduce(0, +), cpuSeconds: cpu.isEmpty ? nil : cpu.reduce(0, +),
            meanCpuPercent: cpuShares.isEmpty ? nil : cpuShares.reduce(0, +) / Double(cpuShares.count), list: list)

        var startup = StartupFigures(allReadyMs: nil, peers: 0, ready: 0)
        if let first = firstSpawnStep {
            let readyTimes = first.peers.compactMap { readyAt[$0] }
            startup.peers = first.peers.count
            startup.ready = readyTimes.count
            if readyTimes.count == first.peers.count, let last = readyTimes.max() {
                startup.allReadyMs = milliseconds(first.t, last)
            }
        }
        var coordinator = CoordinatorFigures(cpuSeconds: 0, cpuPercent: 0, steps: [])
        for (mark, next) in zip(cpuMarks, cpuMarks.dropFirst()) {
            guard let step = mark.step else { continue }
            let seconds = milliseconds(mark.t, next.t) / 1000
            coordinator.steps.append(
                .init(
                    index: step.index, action: step.action, seconds: seconds,
                    cpuPercent: seconds > 0 ? (next.cpu - mark.cpu) / seconds * 100 : 0))
        }
        if let last = cpuMarks.last {
            coordinator.cpuSeconds = last.cpu
            let seconds = Double(last.t - (events.first?.t.microseconds ?? last.t)) / 1e6
            coordinator.cpuPercent = seconds > 0 ? last.cpu / seconds * 100 : 0
        }
        self.init(run: summary, peers: figures, startup: startup, coordinator: coordinator)
        self.steps = steps
        self.handoffs = HandoffAnalysis.handoffs(from: events)
        self.failovers = FailoverAnalysis.failovers(from: events)
        self.replicas = ReplicaCount.timeline(from: events)
        self.links = links.map { link in
            var link = link
            let key = "\(link.peer) \(link.direction)"
            link.profile = linkStarts[key]
            link.profileFile = link.profile.flatMap { linkProfiles[$0]?.file }
            link.parameters = link.profile.flatMap { linkProfiles[$0].map { .object($0.parameters) } }
            link.changes = linkChanges[key] ?? []
            return link
        }
        self.dht = DHTFigures(events: events)
        self.voice = VoiceFigures(events: events)
        self.game = GameFigures(events: events)
        self.security = SecurityFigures(events: events)
    }
}
