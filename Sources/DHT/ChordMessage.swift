/// What Chord nodes say to each other. Requests carry an identifier chosen by the requester;
/// the answer echoes it.
public enum ChordMessage: Hashable, Sendable {
    /// Iterative lookup step: "who is the successor of `key`, or whom should I ask next?"
    case findSuccessor(request: UInt64, key: ChordID)
    /// The final answer to `findSuccessor`.
    case successorIs(request: UInt64, node: NodeRef)
    /// Not known here: ask `node`, which is closer to the key.
    case askNext(request: UInt64, node: NodeRef)
    /// Stabilization: "who are your predecessor and successors? I think I may be your
    /// predecessor." Sent only to the node the sender takes for its successor, so it carries
    /// the paper's notify too (the receiver takes the sender when it is closer than its
    /// predecessor), and a round costs one request and one answer.
    case getNeighbours(request: UInt64)
    case neighbours(request: UInt64, predecessor: NodeRef?, successors: [NodeRef])
    /// "`node` just took your place as my predecessor, so it sits between us: it is a closer
    /// successor for you." Sent to the replaced predecessor; repairs a branch of the ring in
    /// one round instead of one node per round.
    case closerSuccessor(NodeRef)
    /// "`node`, which you told me to ask, did not answer": the receiver forgets it, so the
    /// next lookup through it is not sent to the same dead node. (Stale fingers otherwise
    /// only heal when their owner itself tries them.)
    case unreachable(NodeRef)
    /// Liveness of the predecessor.
    case ping(request: UInt64)
    case pong(request: UInt64)
    /// A client's write to the key's primary, which keeps it and copies it to its successors.
    case store(request: UInt64, entry: StoredEntry)
    /// The primary's answer: whether it kept the write (`KeyStore.merge`: a write under an epoch
    /// another value holds is refused).
    case stored(request: UInt64, accepted: Bool)
    /// Copies held on behalf of a primary (no answer).
    case replicate(entries: [StoredEntry])
    /// A client's read from the key's primary.
    case fetch(request: UInt64, key: ChordID)
    case fetched(request: UInt64, entry: StoredEntry?)
    /// A graceful leave: the sender hands its neighbours its pointers and, to its successor,
    /// the keys it held.
    case leaving(predecessor: NodeRef?, successors: [NodeRef], entries: [StoredEntry])

    /// The request this message starts, if it is a request.
    public var request: UInt64? {
        switch self {
        case .findSuccessor(let request, _), .getNeighbours(let request), .ping(let request), .store(let request, _),
            .fetch(let request, _):
            request
        default: nil
        }
    }

    /// The request this message answers, if it is an answer.
    public var answered: UInt64? {
        switch self {
        case .successorIs(let request, _), .askNext(let request, _), .neighbours(let request, _, _),
            .pong(let request), .stored(let request, _), .fetched(let request, _):
            request
        default: nil
        }
    }

    /// True for the traffic that keeps the ring in shape (stabilization, liveness, replication,
    /// leaves), false for lookups and reads and writes a client asked for. Finger repair is
    /// maintenance too, but it is made of lookup messages: the node counts it by purpose.
    public var isRingMaintenance: Bool {
        switch self {
        case .getNeighbours, .neighbours, .closerSuccessor, .unreachable, .ping, .pong, .replicate, .leaving:
            true
        default: false
        }
    }
}

/// A message with the node that sent it (its listening address, not the connection's).
public struct ChordEnvelope: Hashable, Sendable {
    public var sender: NodeRef
    public var message: ChordMessage

    public init(sender: NodeRef, message: ChordMessage) {
        self.sender = sender
        self.message = message
    }
}

/// The rhythm and sizes of a node's maintenance.
public struct ChordConfiguration: Sendable, Equatable {
    /// r: successors a node remembers, and nodes holding each key (the primary and r-1 more).
    public var successorListLength = 8
    public var stabilizeInterval: Duration = .seconds(1)
    public var fixFingersInterval: Duration = .seconds(2)
    /// How often a node makes sure its predecessor lives: a ping, unless the predecessor sent
    /// anything within the interval (it stabilizes with this node every round).
    public var checkPredecessorInterval: Duration = .seconds(2)
    /// How often a primary copies its keys to its successors and drops expired ones.
    public var replicateInterval: Duration = .seconds(5)
    /// How often a node asks its bootstrap's ring where it belongs (one lookup, a few hops):
    /// what merges two rings a partition left behind. The first comes one to two intervals after
    /// the join, spread by the node's identifier, so a crowd that joined at once does not ask
    /// its bootstrap at once.
    public var checkRingInterval: Duration = .seconds(30)
    /// How long a request waits for its answer before the node is taken for dead.
    public var requestTimeout: Duration = .milliseconds(500)
    /// Attempts of a lookup, read or write before it fails.
    public var attempts = 4
    /// Hops after which an attempt is abandoned (a ring being repaired can send it in circles);
    /// a lookup in a ring without fingers yet walks the successor lists, r nodes a hop.
    public var maximumHops = 160

    public init() {}
}
