/// Scenario turns a YAML experiment description into validated values, without spawning
/// anything: what peers exist, what happens to them when, and what the report must show.
/// `Harness` runs the resulting `TimelinePlan`; every problem with the input is a `Diagnostic`
/// that names file, line and column.
import OverlayCore

/// A parsed and validated scenario file.
public struct Scenario: Sendable, Equatable {
    /// The scenario's name (`name:`), used for the run folder.
    public var name: String
    /// One paragraph saying what the experiment shows (`description:`), optional.
    public var summary: String?
    /// How peers are placed on the network (`mode:`), default loopback.
    public var mode: LaunchMode
    /// The default seed of the run (`seed:`, default 1); `testbed run --seed` overrides it.
    public var seed: UInt64
    /// The declared population (`peers:`): `peer-1 ... peer-N`.
    public var peerCount: Int
    /// The timeline (`timeline:`), in file order, times never decreasing.
    public var steps: [Step]
    /// The checks on the report (`expect:`).
    public var expectations: [ReportExpectation]
    /// Link profiles (netns mode): every peer's, and per-peer overrides, by profile name.
    public var links: LinkAssignments
    /// The DHT's rhythm for every peer of the run (`dht:`).
    public var dht = DHTSettings()

    public init(
        name: String, summary: String? = nil, mode: LaunchMode = .loopback, seed: UInt64 = 1,
        peerCount: Int, steps: [Step], expectations: [ReportExpectation] = []
    ) {
        self.name = name
        self.summary = summary
        self.mode = mode
        self.seed = seed
        self.peerCount = peerCount
        self.steps = steps
        self.expectations = expectations
        self.links = LinkAssignments()
    }
}

/// Which link profile each peer's uplink and downlink follow (`peers: {profile: wifi}` and
/// `links: {peer-2: mobile, peer-3: {up: lossy, down: wan}}`).
public struct LinkAssignments: Sendable, Equatable {
    /// The profile of every peer not named in `peers`; nil: the zero profile.
    public var everyPeer: String?
    public var peers: [PeerName: Pair]

    public init(everyPeer: String? = nil, peers: [PeerName: Pair] = [:]) {
        self.everyPeer = everyPeer
        self.peers = peers
    }

    /// An uplink and a downlink profile.
    public struct Pair: Sendable, Equatable {
        public var up: String
        public var down: String

        public init(up: String, down: String) {
            self.up = up
            self.down = down
        }
    }

    /// Every profile name used.
    public var names: Set<String> {
        Set(peers.values.flatMap { [$0.up, $0.down] } + (everyPeer.map { [$0] } ?? []))
    }
}

/// Which direction of a peer's link a `link` step changes.
public enum LinkDirection: String, Sendable, Equatable {
    case up, down, both
}

/// Where peers run.
public enum LaunchMode: String, Sendable, Equatable, CaseIterable {
    /// One 127.x.y.z address per peer on the loopback interface.
    case loopback
    /// One network namespace per peer behind the link emulator.
    case netns
}

/// One entry of the timeline: what happens, when (scenario time since the run started,
/// not counting time spent in `wait` steps), and where it was written.
public struct Step: Sendable, Equatable {
    public var at: Duration
    public var action: StepAction
    public var position: SourcePosition

    public init(at: Duration, action: StepAction, position: SourcePosition) {
        self.at = at
        self.action = action
        self.position = position
    }
}

/// What a timeline step does. Adding a step kind means a case here, its parsing in
/// `StepParser`, its expansion in `TimelinePlanner`, and its executor in `Harness`.
public enum StepAction: Sendable, Equatable {
    /// A `deploy` runs a service with at most this many hot standbys.
    public static let maximumReplicas = Int(WireBounds.standbys)

    /// Start peers: `spawn: all` (every declared peer not yet started), `spawn: peer-3`,
    /// `spawn: [peer-1, peer-2]`, or `spawn: {count: 4}` (the next four never-used names).
    case spawn(PeerSelection)
    /// Graceful leave: the peer is told to leave and exits.
    case leave(PeerSelection)
    /// SIGKILL.
    case crash(PeerSelection)
    /// SIGSTOP: a peer that hangs.
    case pause(PeerSelection)
    /// SIGCONT.
    case resume(PeerSelection)
    /// Joins, leaves and crashes drawn from a session-time distribution.
    case churn(ChurnSpec)
    /// Stops the scenario clock until the condition holds (or the timeout ends the run).
    case wait(WaitCondition, timeout: Duration)
    /// Ends the run: every running peer is shut down.
    case stop
    /// Gives one peer's link (or one direction of it) another profile, from the next packet on.
    case link(peer: PeerName, profile: String, direction: LinkDirection)
    /// Cuts connectivity between groups of peers (within a group they still reach each other).
    case partition([[PeerName]])
    /// Ends every partition.
    case heal
    /// Peers join the DHT: `join: all` (every running peer), `join: [peer-2, peer-3]`, or
    /// `join: {peers: all, via: peer-1}`. Without `via`, the first peer of the first join creates
    /// the ring and the rest join through a random member. Once the DHT is in use, every peer
    /// spawned later (by a step or churn) joins on its own as soon as it is ready.
    case join(PeerSelection, via: PeerName?)
    /// `count` lookups of random keys, `rate` a second, each from a random DHT member among
    /// `from` (all members by default), judged in the report.
    case lookups(count: Int, rate: Double, from: PeerSelection)
    /// The peer registers itself as the host of `service` (epoch 1, then one higher each time
    /// the service is registered again) and renews the record while it runs.
    case register(peer: PeerName, service: String, lease: Duration)
    /// The peer resolves `service` in the registry.
    case resolve(peer: PeerName, service: String)
    /// The peer starts a service of `kind` (one of `ServiceKinds.known`) under the name
    /// `service` and registers it in the registry (the peer must be in the DHT).
    /// `replicas`: how many hot standbys it runs with.
    case deploy(peer: PeerName, service: String, kind: String, replicas: Int = 0)
    /// Peers become clients of `service` (of the kind it was deployed as), found through the
    /// registry, with the kind's parameters (a voice client already in just speaks).
    case clients(ClientsStep)
    /// The peer serving `service` now moves it, running, to `to`.
    case migrate(service: String, to: PeerName)
    /// A leave, crash or pause of whichever peer hosts a service when the step runs:
    /// `crash: {host-of: voice}`, or `crash: {host-of: voice, at-phase: sync}`.
    case hostFault(HostFault)
}

/// A fault aimed at whichever peer hosts `service` when its step runs (the coordinator follows
/// the service through deploys, migrations, handovers and failovers), rather than at a name.
public struct HostFault: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable {
        case leave, crash, pause
    }

    public var action: Action
    public var service: String
    /// Aimed at one of the service's hot standbys (`replica-of`: the first its primary named
    /// last) instead of its host (`host-of`).
    public var replica: Bool
    /// For a crash or a pause: the peer crashes (or hangs) itself when its next migration of
    /// the service reaches this phase (one of `phases`), or its next failover does (one of
    /// `failoverPhases`), exactly then, instead of at the step's time.
    public var atPhase: String?

    /// The phases a source host goes through, as its `migration-phase` events name them.
    public static let phases = ["prepare", "replicate", "sync", "commit", "redirect", "forward", "release"]
    /// The phases of a failover, as `failover-phase` events name them: a standby's (or a primary's)
    /// claim of the next epoch, the registry's yes, the standbys restored.
    public static let failoverPhases = FailoverPhase.allCases.map(\.rawValue)

    public init(action: Action, service: String, atPhase: String? = nil, replica: Bool = false) {
        self.action = action
        self.service = service
        self.atPhase = atPhase
        self.replica = replica
    }
}

/// The service kinds a peer can host, as `deploy` names them, and the parameters their clients
/// take in a `clients` step: each kind registers one line here.
public enum ServiceKinds {
    public static let clientParameters: [String: [ClientParameter]] = [
        "voice-relay": ClientParameter.voice,
        "game": ClientParameter.game,
    ]

    public static var known: [String] { clientParameters.keys.sorted() }
}

/// What a `clients` step asks of its peers: be clients of `service`, a service of `kind`, with
/// the kind's parameters (checked against its `ClientParameter`s).
public struct ClientsStep: Sendable, Equatable {
    public var service: String
    public var kind: String
    public var peers: PeerSelection
    public var parameters: [String: ClientParameter.Value]

    public init(
        service: String, kind: String, peers: PeerSelection, parameters: [String: ClientParameter.Value] = [:]
    ) {
        self.service = service
        self.kind = kind
        self.peers = peers
        self.parameters = parameters
    }
}

/// A parameter a kind's clients take in a `clients` step, and what its value must be.
public struct ClientParameter: Sendable {
    /// What a value must look like.
    public enum Syntax: Sendable {
        /// A path relative to the repository root, ending in `suffix`; the run checks it exists.
        case file(suffix: String)
        /// A duration like `8s`, at least this long.
        case duration(atLeast: Duration)
        case wholeNumber(ClosedRange<Int>)
        case choice([String])
    }

    /// A value as the step carries it to the peers: a duration as seconds.
    public enum Value: Sendable, Equatable {
        case text(String)
        case number(Double)
    }

    public let name: String
    public let syntax: Syntax
    /// Given only together with this other parameter.
    public let requires: String?

    public init(_ name: String, _ syntax: Syntax, requires: String? = nil) {
        self.name = name
        self.syntax = syntax
        self.requires = requires
    }

    /// A voice client listens; with `speak` it also says that 16-bit mono WAV (at the band's
    /// rate), from `from` into it for `for` (to its end without).
    static let voice = [
        ClientParameter("speak", .file(suffix: ".wav")),
        ClientParameter("from", .duration(atLeast: .zero), requires: "speak"),
        ClientParameter("for", .duration(atLeast: .milliseconds(20)), requires: "speak"),
        ClientParameter("band", .choice(["narrowband", "wideband", "ultraWideband"])),
        ClientParameter("quality", .wholeNumber(0...10)),
    ]

    /// A game bot plays by a seeded script: `inputs` inputs, one every `every` (default 100ms),
    /// the moves drawn from `seed` (default: from the peer's seed, itself the run's).
    static let game = [
        ClientParameter("inputs", .wholeNumber(1...1_000_000)),
        ClientParameter("every", .duration(atLeast: .milliseconds(10))),
        ClientParameter("seed", .wholeNumber(0...Int(Int32.max))),
    ]
}

/// Which peers a step applies to.
public enum PeerSelection: Sendable, Equatable {
    /// For `spawn`: every declared peer not started yet. Otherwise: every running peer.
    case all
    /// These peers, in this order.
    case named([PeerName])
    /// For `spawn` only: this many peers under the next never-used names.
    case count(Int)
}

/// Churn as in P2P measurement studies: every governed peer stays for a session time drawn
/// from `session`, then leaves (or crashes, with probability `crashFraction`); new peers
/// arrive as a Poisson process (default rate: population / mean session, which keeps the
/// population steady) and stay for a drawn session time too.
public struct ChurnSpec: Sendable, Equatable {
    public var duration: Duration
    public var session: Distribution
    /// Arrivals per second; `nil` means population / mean session time.
    public var arrivalRate: Double?
    public var crashFraction: Double
    /// Peers churn never touches (a bootstrap peer, a relay under test).
    public var exclude: [PeerName]

    public init(
        duration: Duration, session: Distribution, arrivalRate: Double? = nil,
        crashFraction: Double = 0, exclude: [PeerName] = []
    ) {
        self.duration = duration
        self.session = session
        self.arrivalRate = arrivalRate
        self.crashFraction = crashFraction
        self.exclude = exclude
    }
}

/// What a `wait` step waits for.
public enum WaitCondition: String, Sendable, Equatable {
    /// Every running peer has reported `ready`.
    case ready
}

/// A check on the report: `peers.crashed == 2`, `startup.allReadyMs < 20000`,
/// `handoffs[*].lost == 0` (`[*]`: every element must pass); or, for a goal the scenario is
/// known to miss, `{check: dht.correct == 2000, known-miss: "why"}`.
public struct ReportExpectation: Sendable, Equatable {
    /// The expression as written, for reports.
    public var text: String
    public var path: [PathComponent]
    public var comparison: Comparison
    public var value: Double
    public var position: SourcePosition
    /// Why the scenario is known not to meet this goal yet (`known-miss:`): the check still
    /// runs and is reported, but a miss does not fail the run.
    public var knownMiss: String?

    public init(
        text: String, path: [PathComponent], comparison: Comparison, value: Double,
        position: SourcePosition, knownMiss: String? = nil
    ) {
        self.text = text
        self.path = path
        self.comparison = comparison
        self.value = value
        self.position = position
        self.knownMiss = knownMiss
    }

    /// One step of a path into report.json.
    public enum PathComponent: Sendable, Equatable {
        case key(String)
        case index(Int)
        /// `[*]`: every element of an array.
        case every
    }

    public enum Comparison: String, Sendable, Equatable, CaseIterable {
        case equal = "=="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="

        public func holds(_ lhs: Double, _ rhs: Double) -> Bool {
            switch self {
            case .equal: lhs == rhs
            case .notEqual: lhs != rhs
            case .less: lhs < rhs
            case .lessOrEqual: lhs <= rhs
            case .greater: lhs > rhs
            case .greaterOrEqual: lhs >= rhs
            }
        }
    }
}

/// The DHT maintenance a scenario sets for every peer of its run (`dht:`): only what it names;
/// the rest is the DHT's own default (`ChordConfiguration`, the one place defaults are written).
public struct DHTSettings: Sendable, Equatable {
    public var stabilize: Duration?
    public var fixFingers: Duration?
    public var checkPredecessor: Duration?
    public var replicate: Duration?
    public var requestTimeout: Duration?
    /// r: the successor list's length and the number of copies of each key.
    public var successors: Int?

    public init() {}
}
