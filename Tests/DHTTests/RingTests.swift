import DHT
import Registry
import Testing

/// Ring arithmetic, finger maintenance on a small ring, and lookups answered from the tables.
struct RingTests {
    static let zero = ChordID(high: 0, middle: 0, low: 0)
    static let top = ChordID(high: .max, middle: .max, low: .max)

    @Test func sha1IsTheStandardOne() {
        // FIPS 180 test vector.
        #expect(ChordID.hashing("abc").description == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(ChordID(hex: "a9993e364706816aba3e25717850c26c9cd0d89d") == ChordID.hashing("abc"))
        #expect(ChordID(hex: "xyz") == nil)
        #expect(NodeRef(host: "127.0.0.1", port: 7000).id == ChordID.hashing("127.0.0.1:7000"))
    }

    @Test func additionCarriesAcrossWordsAndWrapsAround() {
        #expect(Self.top.addingPowerOfTwo(0) == Self.zero)
        #expect(ChordID(high: 0, middle: 0, low: .max).addingPowerOfTwo(0) == ChordID(high: 0, middle: 1, low: 0))
        #expect(ChordID(high: 0, middle: .max, low: .max).addingPowerOfTwo(0) == ChordID(high: 1, middle: 0, low: 0))
        #expect(Self.zero.addingPowerOfTwo(159) == ChordID(high: 1 << 63, middle: 0, low: 0))
        #expect(Self.zero.addingPowerOfTwo(159).addingPowerOfTwo(159) == Self.zero)
        #expect(Self.zero.addingPowerOfTwo(40) == ChordID(high: 0, middle: 1 << 8, low: 0))
        #expect(Self.zero.addingPowerOfTwo(31) == ChordID(high: 0, middle: 0, low: 1 << 31))
    }

    @Test func intervalsWrapAroundZero() {
        let a = ChordID(high: 10, middle: 0, low: 0)
        let b = ChordID(high: 20, middle: 0, low: 0)
        let between = ChordID(high: 15, middle: 0, low: 0)
        #expect(between.isIn(after: a, upTo: b))
        #expect(b.isIn(after: a, upTo: b))
        #expect(!a.isIn(after: a, upTo: b))
        #expect(!between.isIn(after: b, upTo: a))
        // Wrapping: (b, a] holds everything above b and everything up to a.
        #expect(Self.top.isIn(after: b, upTo: a))
        #expect(Self.zero.isIn(after: b, upTo: a))
        #expect(a.isIn(after: b, upTo: a))
        #expect(!b.isIn(after: b, upTo: a))
        // One node: (n, n] is the whole ring, (n, n) all but n.
        #expect(a.isIn(after: a, upTo: a) && between.isIn(after: a, upTo: a))
        #expect(!a.isStrictly(between: a, and: a) && between.isStrictly(between: a, and: a))
        #expect(!b.isStrictly(between: a, and: b) && between.isStrictly(between: a, and: b))
        #expect(Self.zero.isStrictly(between: b, and: a) && !a.isStrictly(between: b, and: a))
    }

    @Test func fingersPointAtTheTrueSuccessorsOfTheirStarts() {
        var simulation = SimulationTests.grownRing(count: 40, seed: 4)
        simulation.run(until: simulation.now + .seconds(120))
        let members = simulation.live
        #expect(members.count == 40)
        for node in members {
            let chord = simulation.nodes[node].chord
            for (index, finger) in chord.fingers.enumerated() {
                let start = chord.me.id.addingPowerOfTwo(index)
                let truth = simulation.ref(simulation.trueSuccessor(of: start, among: members))
                #expect(finger == (truth == chord.me ? nil : truth), "finger \(index) of \(node)")
            }
            #expect(chord.successors.count == ChordConfiguration().successorListLength)
        }
    }

    @Test func aGracefulLeaveHandsOverKeysAndPointers() {
        var simulation = SimulationTests.grownRing(count: 20, seed: 6)
        simulation.run(until: simulation.now + .seconds(10))
        let record = ServiceRecordFixture.record
        simulation.at(simulation.now, .register(record, tag: 1), node: 2)
        simulation.run(until: simulation.now + .seconds(8))
        let primary = simulation.trueSuccessor(of: record.entry.key, among: simulation.live)
        let before = simulation.live
        simulation.at(simulation.now, .chord(.leave), node: primary)
        simulation.run(until: simulation.now + .milliseconds(100))
        // Right after the leave (before any stabilization round), the ring is already whole.
        #expect(simulation.live.count == before.count - 1)
        #expect(simulation.wrongSuccessors() == 0)
        let heir = simulation.trueSuccessor(of: record.entry.key, among: simulation.live)
        #expect(simulation.nodes[heir].chord.store.entry(record.entry.key, now: simulation.now) != nil)
    }

    /// A write that ends one node past the key's owner (a lookup through a node whose
    /// successor pointer lags a join) is handed to the predecessor too; one for the node's own
    /// range is not.
    @Test func aStoreForTheNodeBeforeIsHandedToIt() throws {
        var simulation = SimulationTests.grownRing(count: 12, seed: 5)
        simulation.run(until: simulation.now + .seconds(10))
        var node = simulation.nodes[0].chord
        let predecessor = try #require(node.predecessor)
        let theirs = StoredEntry(key: predecessor.id, value: [1], epoch: 1, lease: .seconds(60))
        let mine = StoredEntry(key: node.me.id, value: [2], epoch: 1, lease: .seconds(60))
        func handedOver(_ effects: [ChordEffect], _ entry: StoredEntry) -> Bool {
            effects.contains { $0 == .send(.replicate(entries: [entry]), to: predecessor) }
        }
        let writer = NodeRef(host: "10.9.0.1", port: 7000)
        let stored = node.receive(
            ChordEnvelope(sender: writer, message: .store(request: 1, entry: theirs)), now: simulation.now)
        #expect(handedOver(stored, theirs))
        let kept = node.receive(
            ChordEnvelope(sender: writer, message: .store(request: 2, entry: mine)), now: simulation.now)
        #expect(!handedOver(kept, mine))
        #expect(node.store.entry(theirs.key, now: simulation.now) != nil)
    }

    /// The predecessor stabilizes with its successor every round: a predecessor heard within the
    /// check's interval is not pinged, one silent for the interval is.
    @Test func aPredecessorHeardWithinTheIntervalIsNotPinged() throws {
        var simulation = SimulationTests.grownRing(count: 2, seed: 3)
        simulation.run(until: simulation.now + .seconds(10))
        var node = simulation.nodes[0].chord
        let predecessor = try #require(node.predecessor)
        let interval = node.configuration.checkPredecessorInterval
        func pings(_ effects: [ChordEffect]) -> Int {
            effects.filter { if case .send(.ping, to: predecessor) = $0 { true } else { false } }.count
        }
        let heard = simulation.now + .seconds(1)
        _ = node.receive(ChordEnvelope(sender: predecessor, message: .getNeighbours(request: 99)), now: heard)
        #expect(pings(node.fire(.checkPredecessor, now: heard + interval / 2)) == 0)
        #expect(pings(node.fire(.checkPredecessor, now: heard + interval)) == 1)
    }
}

enum ServiceRecordFixture {
    static let record = Registry.ServiceRecord(name: "voice", hosts: ["10.0.0.1:7000"], epoch: 1, lease: .seconds(60))
}
