import OverlayCore

/// A scenario expanded for one seed into single-peer actions in time order: what the
/// `Harness` timeline executes. Churn becomes concrete joins, leaves and crashes here, so the
/// same seed always gives the same schedule, and `testbed validate --plan` can print it.
public struct TimelinePlan: Sendable, Equatable {
    public var seed: UInt64
    /// Sorted by `at`; actions at the same time keep the order of the steps they came from.
    public var actions: [PlannedAction]
    /// Every peer the plan ever spawns, in order of first spawn.
    public var peers: [PeerName]
    /// Scenario time of the last action (the run ends there if no `stop` comes first).
    public var end: Duration

    public init(seed: UInt64, actions: [PlannedAction], peers: [PeerName], end: Duration) {
        self.seed = seed
        self.actions = actions
        self.peers = peers
        self.end = end
    }
}

/// One thing the timeline does at one instant of scenario time.
public struct PlannedAction: Sendable, Equatable {
    public var at: Duration
    public var kind: Kind
    /// The step this action came from (its index in `Scenario.steps`).
    public var stepIndex: Int
    /// True when churn drew this action rather than the step naming it.
    public var fromChurn: Bool

    public init(at: Duration, kind: Kind, stepIndex: Int, fromChurn: Bool = false) {
        self.at = at
        self.kind = kind
        self.stepIndex = stepIndex
        self.fromChurn = fromChurn
    }

    public enum Kind: Sendable, Equatable {
        case spawn(PeerName)
        case leave(PeerName)
        case crash(PeerName)
        case pause(PeerName)
        /// A fault aimed at whichever peer hosts a service at that time.
        case hostFault(HostFault)
        case resume(PeerName)
        case waitReady(timeout: Duration)
        case stop
        case link(PeerName, profile: String, direction: LinkDirection)
        case partition([[PeerName]])
        case heal
        /// These peers join the DHT (through `via`, or as the step's notes say).
        case join([PeerName], via: PeerName?)
        /// Lookups from DHT members among `from` (nil: every member at the time).
        case lookups(count: Int, rate: Double, from: [PeerName]?)
        case register(PeerName, service: String, lease: Duration)
        case resolve(PeerName, service: String)
        case deploy(PeerName, service: String, kind: String, replicas: Int = 0)
        /// Whoever serves `service` then moves it to this peer.
        case migrate(service: String, to: PeerName)
        /// One peer becomes a client of a service (a voice client speaks, with `speak`).
        case client(PeerName, ClientsStep)
    }
}
