/// Analysis turns what a run left behind into figures: today the peers' lifecycle from
/// `events.jsonl`; the capture's per-stream and per-handoff figures join here. It reads files
/// the run wrote and never imports the code whose behaviour it judges.
import ControlProtocol

/// The report of one run; its JSON form is `report.json`, whose keys are a contract
/// (see README.md). Every figure is derived from the run folder, so `testbed report` rebuilds
/// the same report later.
public struct RunReport: Sendable, Equatable, Codable {
    public var run: RunSummary
    public var peers: PeerFigures
    public var startup: StartupFigures
    public var coordinator: CoordinatorFigures
    /// What the capture holds (absent when the run was not captured).
    public var capture: CaptureFigures?
    /// One entry per RTP stream and receiving address, from the capture.
    public var streams: [StreamFigures]
    /// Bytes per peer and traffic class over time, from the capture.
    public var bandwidth: BandwidthFigures?
    /// One entry per migration, from its phase events and (window figures) the capture.
    public var handoffs: [HandoffFigures]
    /// Loss inside the handoff windows against outside them, from the capture.
    public var handoffLoss: HandoffLoss?
    /// One entry per service that failed over to another host, from the events and the capture.
    public var failovers: [FailoverFigures]
    /// Each primary's count of hot standbys over time, from its `standbys` events.
    public var replicas: [ReplicaCount]
    /// Per peer and direction, what the emulated link did (netns mode): every packet lost on
    /// the network is counted here, so the rest of a stream's losses are the service's.
    public var links: [LinkFigures]
    /// The DHT's lookups judged against the true membership, when the run used the DHT.
    public var dht: DHTFigures?
    /// Relays, speakers and what each listener heard, when the run had a voice service.
    public var voice: VoiceFigures?
    /// Game bots' inputs and every receiver's ticks, when the run had a game service.
    public var game: GameFigures?
    /// What the peers refused of what others sent them, when they refused anything.
    public var security: SecurityFigures?
    public var expectations: [ExpectationResult]
    /// Per-packet samples of each stream, for the HTML charts; not part of report.json.
    public var streamDetails: [StreamDetail] = []
    /// The timeline's steps and migration phases (time, what), for marking charts; not part
    /// of report.json.
    public var steps: [(t: Double, action: String)] = []

    enum CodingKeys: String, CodingKey {
        case run, peers, startup, coordinator, capture, streams, bandwidth, handoffs, handoffLoss, failovers, replicas,
            links,
            dht,
            voice, game, security, expectations
    }

    public static func == (lhs: RunReport, rhs: RunReport) -> Bool {
        lhs.run == rhs.run && lhs.peers == rhs.peers && lhs.startup == rhs.startup && lhs.coordinator == rhs.coordinator
            && lhs.capture == rhs.capture && lhs.streams == rhs.streams && lhs.bandwidth == rhs.bandwidth
            && lhs.handoffs == rhs.handoffs && lhs.handoffLoss == rhs.handoffLoss && lhs.failovers == rhs.failovers
            && lhs.replicas == rhs.replicas
            && lhs.links == rhs.links
            && lhs.dht == rhs.dht && lhs.voice == rhs.voice && lhs.game == rhs.game && lhs.security == rhs.security
            && lhs.expectations == rhs.expectations && lhs.streamDetails == rhs.streamDetails
    }

    public init(
        run: RunSummary, peers: PeerFigures, startup: StartupFigures, coordinator: CoordinatorFigures,
        expectations: [ExpectationResult] = []
    ) {
        self.run = run
        self.peers = peers
        self.startup = startup
        self.coordinator = coordinator
        self.capture = nil
        self.streams = []
        self.bandwidth = nil
        self.handoffs = []
        self.handoffLoss = nil
        self.failovers = []
        self.replicas = []
        self.links = []
        self.dht = nil
        self.voice = nil
        self.game = nil
        self.security = nil
        self.expectations = expectations
    }
}

/// What the peers refused of what others sent them (`security` in report.json), from their
/// `rejected` events: summed by reason over the run, and by peer.
public struct SecurityFigures: Sendable, Equatable, Codable {
    public var rejected: [String: Int]
    public var byPeer: [String: [String: Int]]

    /// Nil when no peer refused anything.
    public init?(events: [EventLine]) {
        var rejected: [String: Int] = [:]
        var byPeer: [String: [String: Int]] = [:]
        for line in events {
            guard case .rejected(let counts) = line.event else { continue }
            for (reason, count) in counts {
                rejected[reason] = (rejected[reason] ?? 0).saturatingAdd(count)
                byPeer[line.peer, default: [:]][reason] = (byPeer[line.peer]?[reason] ?? 0).saturatingAdd(count)
            }
        }
        guard !rejected.isEmpty else { return nil }
        self.rejected = rejected
        self.byPeer = byPeer
    }
}

/// What ran, and how it ended.
public struct RunSummary: Sendable, Equatable, Codable {
    public var scenario: String
    public var seed: String
    public var mode: String
    /// Unix seconds of the first and last event.
    public var start: Double
    public var end: Double
    /// Scenario-clock seconds the run lasted and was planned to last.
    public var elapsedSeconds: Double
    public var plannedSeconds: Double
    /// `completed`, `interrupted`, `failed`, or `unfinished` (no run-ended event: the
    /// coordinator itself died).
    public var outcome: String
    /// Peer `error` events (rejected commands and other problems a peer survived).
    public var peerErrors: Int
    /// Lines of events.jsonl that could not be read.
    public var malformedEventLines: Int
}

/// The peers' lifecycle, summed over the run (`peers.*` in report.json).
public struct PeerFigures: Sendable, Equatable, Codable {
    public var spawned: Int
    /// Ended after a scripted or churn `leave`.
    public var left: Int
    /// Ended by a scripted or churn crash (SIGKILL).
    public var crashed: Int
    /// Ended by the run's stop.
    public var stopped: Int
    /// Did not end in time when asked and had to be killed.
    public var killed: Int
    /// Ended without being asked, or could not be started.
    public var failed: Int
    /// The largest peak resident size of any peer, in MB (2^20 bytes).
    public var maxRssMB: Double
    public var meanRssMB: Double
    /// Proportional set size at the stop, mean and largest over the peers then running, in MB:
    /// shared library pages divided among the peers sharing them, so this is what one more
    /// peer costs the machine. 0 when no peer was running at the stop.
    public var meanPssMB: Double
    public var maxPssMB: Double
    /// PSS summed over the peers running at the stop: the machine's memory the population
    /// takes, which is what limits how many peers fit.
    public var totalPssMB: Double
    /// CPU time (user and system) the peers used in their lives, summed, in seconds; and its
    /// mean share of one core over each peer's uptime, in percent. Nil when no peer's CPU time
    /// is known (a run recorded before the testbed read it).
    public var cpuSeconds: Double?
    public var meanCpuPercent: Double?
    public var list: [PeerSummary]
}

/// One peer's life in the run.
public struct PeerSummary: Sendable, Equatable, Codable {
    public var name: String
    public var pid: Int?
    public var address: String?
    /// Unix seconds.
    public var spawnedAt: Double?
    /// Milliseconds from spawn to `ready`.
    public var readyMs: Double?
    public var uptimeSeconds: Double?
    /// `left`, `crashed`, `stopped`, `killed`, `failed`, or `running` (no exit recorded).
    public var end: String
    public var maxRssMB: Double?
    public var pssMB: Double?
    /// CPU time (user and system) over its life, in seconds.
    public var cpuSeconds: Double?
}

/// How quickly the first population came up (`startup.*`).
public struct StartupFigures: Sendable, Equatable, Codable {
    /// Milliseconds from the first `spawn` step until every peer it started was ready;
    /// `nil` if one never was.
    public var allReadyMs: Double?
    /// Peers that first spawn step started, and how many of them became ready.
    public var peers: Int
    public var ready: Int
}

/// The coordinator's own CPU use (`coordinator.*`), over the run and per step window (from a
/// step's start to the next step's, or to the run's end).
public struct CoordinatorFigures: Sendable, Equatable, Codable {
    public var cpuSeconds: Double
    /// Percent of one core over the whole run.
    public var cpuPercent: Double
    public var steps: [StepWindow]

    /// One step's window.
    public struct StepWindow: Sendable, Equatable, Codable {
        public var index: Int
        public var action: String
        public var seconds: Double
        /// Percent of one core while this step's window lasted.
        public var cpuPercent: Double
    }
}

/// One direction of one peer's emulated link (`links[]`).
public struct LinkFigures: Sendable, Equatable, Codable {
    public var peer: String
    /// `up` (what the peer sent) or `down` (what it was sent).
    public var direction: String
    public var packets: Int
    public var delivered: Int
    /// Lost by the loss model.
    public var lost: Int
    /// Dropped because the queue behind the rate limit was full.
    public var queueDrops: Int
    public var tooBig: Int
    public var duplicated: Int
    public var reordered: Int
    /// Dropped because a partition separated sender and receiver.
    public var partitioned: Int
    /// Sent to an address no peer owns.
    public var unrouted: Int
    /// The profile the link started with (nil: none, a perfect link), the file it was read
    /// from and its parameters; and every later change (`link` steps).
    public var profile: String?
    public var profileFile: String?
    public var parameters: JSONValue?
    public var changes: [LinkChange] = []

    /// A `link` step that gave this link another profile.
    public struct LinkChange: Sendable, Equatable, Codable {
        /// Unix seconds.
        public var t: Double
        public var profile: String
    }
}

/// One `expect:` line checked against the report.
public struct ExpectationResult: Sendable, Equatable, Codable {
    public var expr: String
    /// The value found: a number, a list of numbers for `[*]`, or null if the path has none.
    public var value: JSONValue
    public var passed: Bool
    /// Why the scenario is known to miss this goal (its `known-miss:`); a miss so marked does
    /// not fail the run.
    public var knownMiss: String?

    public init(expr: String, value: JSONValue, passed: Bool, knownMiss: String? = nil) {
        self.expr = expr
        self.value = value
        self.passed = passed
        self.knownMiss = knownMiss
    }

    /// Passed, or missed as the scenario says it is known to.
    public var acceptable: Bool { passed || knownMiss != nil }

    /// `PASS`, `FAIL`, `MISS` (a known miss) or `PASS*` (passed although marked a known miss:
    /// the mark can go).
    public var verdict: String {
        switch (passed, knownMiss != nil) {
        case (true, false): "PASS"
        case (true, true): "PASS*"
        case (false, false): "FAIL"
        case (false, true): "MISS"
        }
    }
}

/// How many hot standbys held a service's state at its primary from `at` on (`replicas[]` in
/// report.json): one entry each time the set changed.
public struct ReplicaCount: Sendable, Equatable, Codable {
    public var service: String
    /// Unix seconds of the change.
    public var at: Double
    /// The primary, its epoch, and its standbys (how many it wants, and which hold the state).
    public var primary: String
    public var epoch: Int
    public var wanted: Int
    public var count: Int
    public var standbys: [String]

    /// Every `standbys` event of a run, in order.
    public static func timeline(from events: [EventLine]) -> [ReplicaCount] {
        events.sorted { $0.t < $1.t }.compactMap { line in
            guard case .standbys(let service, let epoch, let wanted, let peers) = line.event else { return nil }
            return ReplicaCount(
                service: service, at: line.t.seconds, primary: line.peer, epoch: epoch, wanted: wanted,
                count: peers.count, standbys: peers)
        }
    }
}
