/// Datagrams to a client from senders it does not expect (`ServiceConnectionStateMachine
/// .expects(dataFrom:)`), held a moment: a new host starts sending when it takes over, and its
/// first packets can reach a client just before the redirect or takeover notice that names it.
/// They are let go in arrival order once their sender is the service's; those older than
/// `limit`, or beyond `capacity`, are dropped and counted (a stranger's stream never plays).
public struct DatagramQuarantine<Payload> {
    /// At most this many are held: the oldest goes first.
    public static var capacity: Int { 64 }
    public let limit: Duration
    private var held: [(sender: String, at: Duration, payload: Payload)] = []
    /// Datagrams dropped unplayed: their sender never became the service's in time.
    public private(set) var dropped = 0

    public init(limit: Duration = .milliseconds(500)) { self.limit = limit }

    /// Holds a datagram from `sender` that arrived at `now` (any monotonic clock).
    public mutating func hold(_ payload: Payload, from sender: String, at now: Duration) {
        expire(at: now)
        if held.count >= Self.capacity {
            held.removeFirst()
            dropped += 1
        }
        held.append((sender, now, payload))
    }

    /// `sender` is the service's now: its held datagrams, in the order they came.
    public mutating func release(from sender: String, at now: Duration) -> [Payload] {
        expire(at: now)
        let released = held.filter { $0.sender == sender }.map(\.payload)
        held.removeAll { $0.sender == sender }
        return released
    }

    /// Drops and counts everything still held: the client is done.
    public mutating func dropAll() {
        dropped += held.count
        held = []
    }

    private mutating func expire(at now: Duration) {
        let before = held.count
        held.removeAll { now - $0.at > limit }
        dropped += before - held.count
    }
}

extension DatagramQuarantine: Sendable where Payload: Sendable {}
