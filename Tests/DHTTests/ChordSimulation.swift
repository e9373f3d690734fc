import DHT
import OverlayCore
import Registry

/// The deterministic simulation: registry nodes (Chord inside) on an in-memory network with a
/// virtual clock. Every delivery, timer and command is an entry in one time-ordered queue;
/// message delay and loss are drawn from one seeded generator, so a seed replays a run
/// exactly. A crashed node silently drops what reaches it, as a dead process would.
struct ChordSimulation {
    enum Action {
        case deliver(ChordEnvelope, to: Int)
        case timer(RegistryNode.Timer, node: Int)
        case command(RegistryNode.Command, node: Int)
    }

    private(set) var nodes: [RegistryNode]
    private(set) var crashed: Set<Int> = []
    private var index: [NodeRef: Int] = [:]
    private var queue = TimedQueue<Duration, Action>()
    private var random: SeededGenerator
    private(set) var now: Duration = .zero
    /// Events the nodes reported, in order.
    private(set) var events: [(node: Int, event: RegistryNode.Event)] = []
    private(set) var delivered = 0
    /// A running digest of every action taken, to compare two runs.
    private(set) var trace: UInt64 = 0xcbf2_9ce4_8422_2325

    var delay: ClosedRange<Double> = 0.001...0.020
    var loss = 0.0
    /// Nodes whose every message, in and out, is lost (a link that is down for a while).
    var cut: Set<Int> = []
    /// Nodes on an island: they hear each other, and nothing crosses between them and the rest.
    var island: Set<Int> = []

    init(count: Int, seed: UInt64, configuration: ChordConfiguration = ChordConfiguration()) {
        random = SeededGenerator(seed: seed)
        nodes = (0..<count).map { number in
            let me = NodeRef(host: "10.\(number / 65536).\(number / 256 % 256).\(number % 256)", port: 7000)
            return RegistryNode(chord: ChordNode(me: me, configuration: configuration))
        }
        for (number, node) in nodes.enumerated() { index[node.chord.me] = number }
    }

    func ref(_ node: Int) -> NodeRef { nodes[node].chord.me }

    /// The nodes in the ring: joined and not crashed.
    var live: [Int] {
        nodes.indices.filter { !crashed.contains($0) && nodes[$0].chord.phase == .joined }
    }

    mutating func at(_ time: Duration, _ command: RegistryNode.Command, node: Int) {
        push(time, .command(command, node: node))
    }

    /// Kills a node: it never answers again.
    mutating func crash(_ node: Int) { crashed.insert(node) }

    /// Actions after which a run stops for good: a protocol that floods the network ends the
    /// test with a failure instead of exhausting the machine.
    var actionBudget = 20_000_000
    private(set) var actions = 0
    var exhaustedBudget: Bool { actions >= actionBudget }

    mutating func run(until end: Duration) {
        while let next = queue.first, next.time <= end, actions < actionBudget {
            actions += 1
            _ = queue.popFirst()
            now = next.time
            perform(next.element)
        }
        now = end
    }

    private mutating func perform(_ action: Action) {
        let effects: [RegistryNode.Effect]
        let node: Int
        switch action {
        case .deliver(let envelope, let to):
            node = to
            guard !crashed.contains(to) else { return }
            delivered += 1
            effects = nodes[to].receive(envelope, now: now)
        case .timer(let timer, let at):
            node = at
            guard !crashed.contains(at) else { return }
            effects = nodes[at].fire(timer, now: now)
        case .command(let command, let at):
            node = at
            guard !crashed.contains(at) else { return }
            effects = nodes[at].command(command, now: now)
        }
        mix(UInt64(node))
        for effect in effects {
            switch effect {
            case .send(let message, let to):
                guard let destination = index[to] else { continue }
                mix(UInt64(destination) << 32 | UInt64(message.request ?? message.answered ?? 0))
                if cut.contains(node) || cut.contains(destination) { continue }
                if island.contains(node) != island.contains(destination) { continue }
                if loss > 0, random.nextUnitInterval() < loss { continue }
                let seconds = delay.lowerBound + (delay.upperBound - delay.lowerBound) * random.nextUnitInterval()
                push(
                    now + .microseconds(Int64(seconds * 1e6)),
                    .deliver(ChordEnvelope(sender: ref(node), message: message), to: destination))
            case .schedule(let timer, let after):
                push(now + after, .timer(timer, node: node))
            case .event(let event):
                events.append((node, event))
            }
        }
    }

    private mutating func push(_ time: Duration, _ action: Action) { queue.insert(action, at: time) }

    private mutating func mix(_ value: UInt64) {
        trace = (trace ^ value) &* 0x100_0000_01b3
    }

    // MARK: Truth

    /// The true successor of `key` among `members`, from their identifiers alone.
    func trueSuccessor(of key: ChordID, among members: [Int]) -> Int {
        let sorted = members.sorted { ref($0).id < ref($1).id }
        return sorted.first { key <= ref($0).id } ?? sorted[0]
    }

    /// Live nodes whose successor pointer is not the next live node on the ring.
    func wrongSuccessors() -> Int {
        let ring = live.sorted { ref($0).id < ref($1).id }
        return ring.indices.filter { position in
            nodes[ring[position]].chord.successor != ref(ring[(position + 1) % ring.count])
        }.count
    }
}
