import Testing

@testable import Mobility

/// A target's merge of late and direct packets back into each speaker's sequence order.
struct LateTrafficOrderingTests {
    typealias Ordering = LateTrafficOrdering<UInt16>

    static func sequences(_ out: [(sender: String, packet: UInt16)]) -> [UInt16] { out.map(\.packet) }

    static func ms(_ value: Int64) -> Duration { .milliseconds(value) }

    @Test func directPacketsThatOvertakeTheLastLateOnesWaitForThem() {
        var ordering = Ordering()
        var heard: [UInt16] = []
        for sequence: UInt16 in 10...12 {
            heard += Self.sequences(
                ordering.late(from: "s", sequence: sequence, packet: sequence, now: Self.ms(Int64(sequence) * 20)))
        }
        // The speaker follows the redirect: 14 and 15 come straight here before late 13.
        heard += Self.sequences(ordering.direct(from: "s", sequence: 14, packet: 14, now: Self.ms(250)))
        heard += Self.sequences(ordering.direct(from: "s", sequence: 15, packet: 15, now: Self.ms(262)))
        #expect(heard == [10, 11, 12])
        #expect(ordering.heldCount == 2 && ordering.nextDeadline == Self.ms(350))
        heard += Self.sequences(ordering.late(from: "s", sequence: 13, packet: 13, now: Self.ms(265)))
        #expect(heard == [10, 11, 12, 13, 14, 15])
        #expect(ordering.heldCount == 0 && ordering.nextDeadline == nil)
        // In order from here on.
        #expect(Self.sequences(ordering.direct(from: "s", sequence: 16, packet: 16, now: Self.ms(280))) == [16])
    }

    @Test func aLatePacketThatNeverComesHoldsTheDirectOnesForTheMaximumOnly() {
        var ordering = Ordering()
        _ = ordering.late(from: "s", sequence: 100, packet: 100, now: .zero)
        #expect(ordering.direct(from: "s", sequence: 103, packet: 103, now: Self.ms(30)).isEmpty)
        #expect(ordering.direct(from: "s", sequence: 102, packet: 102, now: Self.ms(40)).isEmpty)
        #expect(ordering.tick(now: Self.ms(129)).isEmpty)
        #expect(Self.sequences(ordering.tick(now: Self.ms(130))) == [102, 103])
        #expect(Self.sequences(ordering.direct(from: "s", sequence: 104, packet: 104, now: Self.ms(140))) == [104])
    }

    @Test func whenTheLateTrafficStopsWhatWaitedGoesBeforeTheNextPacket() {
        var ordering = Ordering()
        _ = ordering.late(from: "s", sequence: 47, packet: 47, now: .zero)
        // 48 was lost before it reached the old host: 49 and 50 wait for it...
        #expect(ordering.direct(from: "s", sequence: 49, packet: 49, now: Self.ms(60)).isEmpty)
        #expect(ordering.direct(from: "s", sequence: 50, packet: 50, now: Self.ms(80)).isEmpty)
        // ...until no late packet came for the late window: they go, in order, before 51.
        #expect(
            Self.sequences(ordering.direct(from: "s", sequence: 51, packet: 51, now: Self.ms(100))) == [49, 50, 51])
        #expect(ordering.heldCount == 0 && ordering.nextDeadline == nil)
    }

    @Test func onceTheLateTrafficStopsNothingWaits() {
        var ordering = Ordering()
        _ = ordering.late(from: "s", sequence: 7, packet: 7, now: .zero)
        // 100 ms without a late packet of this speaker: a hole is loss, not lateness.
        #expect(Self.sequences(ordering.direct(from: "s", sequence: 9, packet: 9, now: Self.ms(100))) == [9])
        // A speaker never seen late is not held either.
        #expect(Self.sequences(ordering.direct(from: "t", sequence: 50, packet: 50, now: Self.ms(10))) == [50])
    }

    @Test func packetsBehindTheStreamGoThroughAtOnce() {
        var ordering = Ordering()
        _ = ordering.late(from: "s", sequence: 20, packet: 20, now: .zero)
        _ = ordering.late(from: "s", sequence: 21, packet: 21, now: Self.ms(20))
        // A duplicate and an old packet: the listeners get them as they are (the judge counts them).
        #expect(Self.sequences(ordering.direct(from: "s", sequence: 21, packet: 21, now: Self.ms(25))) == [21])
        #expect(Self.sequences(ordering.late(from: "s", sequence: 19, packet: 19, now: Self.ms(30))) == [19])
    }

    @Test func sequenceNumbersWrapAround() {
        var ordering = Ordering()
        _ = ordering.late(from: "s", sequence: 65_534, packet: 65_534, now: .zero)
        #expect(ordering.direct(from: "s", sequence: 1, packet: 1, now: Self.ms(10)).isEmpty)
        #expect(
            Self.sequences(ordering.late(from: "s", sequence: 65_535, packet: 65_535, now: Self.ms(20))) == [65_535])
        #expect(Self.sequences(ordering.late(from: "s", sequence: 0, packet: 0, now: Self.ms(30))) == [0, 1])
    }

    @Test func theEndOfTheLateTrafficLetsEverythingGoInOrder() {
        var ordering = Ordering()
        _ = ordering.late(from: "a", sequence: 1, packet: 1, now: .zero)
        _ = ordering.late(from: "b", sequence: 10, packet: 10, now: .zero)
        _ = ordering.direct(from: "a", sequence: 4, packet: 4, now: Self.ms(5))
        _ = ordering.direct(from: "a", sequence: 3, packet: 3, now: Self.ms(6))
        _ = ordering.direct(from: "b", sequence: 12, packet: 12, now: Self.ms(7))
        let out = ordering.finish()
        #expect(out.map(\.sender) == ["a", "a", "b"] && Self.sequences(out) == [3, 4, 12])
        #expect(ordering.heldCount == 0)
        #expect(Self.sequences(ordering.direct(from: "a", sequence: 9, packet: 9, now: Self.ms(8))) == [9])
    }
}
