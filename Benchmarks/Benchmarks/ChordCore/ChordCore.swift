// The DHT core without I/O: a ring of 128 `ChordNode`s in memory, joined one by one and
// stabilized for 60 simulated seconds with the default intervals; then each iteration is one
// iterative lookup of a random key from a random node, every message delivered until the
// answer (about 1/2 log2 N steps, each a request and its answer through both nodes' cores).
// Per lookup, ×1000 on the throughput line.
import Benchmark
import DHT
import OverlayCore
import Support

let benchmarks: @Sendable () -> Void = {
    var ring = SimulatedRing(size: 128)
    ring.run(for: .seconds(60))
    var random = SeededGenerator(seed: 7)
    let keys = (0..<1024).map { _ in ChordID.hashing("key-\(random.next())") }
    let askers = (0..<1024).map { _ in Int(random.next() % 128) }
    // The ring must have formed: every lookup answered by the true successor.
    for index in 0..<64 {
        let outcome = ring.lookup(keys[index], from: askers[index])
        precondition(outcome?.node == ring.trueSuccessor(of: keys[index]), "the ring did not stabilize")
    }
    let stable = ring
    Benchmark(
        "LookupInAStableRingOf128",
        configuration: configuration(timeUnits: .microseconds, maxDuration: .seconds(3))
    ) { benchmark in
        var ring = stable
        for iteration in benchmark.scaledIterations {
            let index = iteration & 1023
            blackHole(ring.lookup(keys[index], from: askers[index]))
        }
    }
}

/// Chord nodes exchanging messages through an event queue on a simulated clock: each message
/// takes a millisecond, each timer fires when it is due.
struct SimulatedRing {
    enum Event {
        case deliver(ChordEnvelope, to: Int)
        case fire(ChordTimer, at: Int)
    }

    var nodes: [ChordNode]
    let index: [NodeRef: Int]
    var queue = TimedQueue<Duration, Event>()
    var now = Duration.zero
    var answers: [UInt64: LookupOutcome] = [:]
    var nextTag: UInt64 = 1

    init(size: Int) {
        let refs = (0..<size).map { NodeRef(host: "10.0.\($0 / 256).\($0 % 256)", port: 7000) }
        nodes = refs.map { ChordNode(me: $0) }
        index = Dictionary(uniqueKeysWithValues: refs.enumerated().map { ($1, $0) })
        apply(nodes[0].command(.create, now: now), at: 0, timers: true)
        for joiner in 1..<size {
            run(for: .milliseconds(100))
            apply(nodes[joiner].command(.join(via: refs[0]), now: now), at: joiner, timers: true)
        }
    }

    /// Runs every event due within `duration`, timers included.
    mutating func run(for duration: Duration) {
        let end = now + duration
        while let next = queue.first, next.time < end {
            _ = queue.popFirst()
            now = next.time
            handle(next.element, timers: true)
        }
        now = end
    }

    /// Asks `asker` for the successor of `key` and delivers messages (no timers) until none is
    /// left: the outcome, nil if the lookup never ended.
    mutating func lookup(_ key: ChordID, from asker: Int) -> LookupOutcome? {
        let tag = nextTag
        nextTag += 1
        apply(nodes[asker].command(.lookup(key: key, tag: tag), now: now), at: asker, timers: false)
        while let (time, event) = queue.popFirst() {
            now = time
            handle(event, timers: false)
        }
        return answers.removeValue(forKey: tag)
    }

    /// The node that truly follows `key` on the ring.
    func trueSuccessor(of key: ChordID) -> NodeRef {
        let sorted = nodes.map(\.me).sorted { $0.id < $1.id }
        return sorted.first { $0.id >= key } ?? sorted[0]
    }

    private mutating func handle(_ event: Event, timers: Bool) {
        switch event {
        case .deliver(let envelope, let to): apply(nodes[to].receive(envelope, now: now), at: to, timers: timers)
        case .fire(let timer, let at): apply(nodes[at].fire(timer, now: now), at: at, timers: timers)
        }
    }

    private mutating func apply(_ effects: [ChordEffect], at node: Int, timers: Bool) {
        for effect in effects {
            switch effect {
            case .send(let message, let to):
                guard let receiver = index[to] else { continue }
                queue.insert(
                    .deliver(ChordEnvelope(sender: nodes[node].me, message: message), to: receiver),
                    at: now + .milliseconds(1))
            case .schedule(let timer, let after):
                if timers { queue.insert(.fire(timer, at: node), at: now + after) }
            case .event(.lookupDone(let tag, _, let outcome)):
                answers[tag] = outcome
            case .event:
                break
            }
        }
    }
}
