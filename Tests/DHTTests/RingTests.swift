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
}

enum ServiceRecordFixture {
    static let record = Registry.ServiceRecord(name: "voice", hosts: ["10.0.0.1:7000"], epoch: 1, lease: .seconds(60))
}
