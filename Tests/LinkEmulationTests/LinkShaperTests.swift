import Testing

@testable import LinkEmulation

/// The link emulator's fates on a virtual clock: exact replays, and distributions within
/// statistical bounds.
@Suite struct LinkShaperTests {
    static func run(
        _ profile: LinkProfile, packets: Int = 10_000, size: Int = 200, spacing: Duration = .milliseconds(20),
        seed: UInt64 = 1
    ) -> [(sent: Duration, fate: LinkShaper.Fate)] {
        var shaper = LinkShaper(profile: profile, seed: seed, link: "peer-1/up")
        return (0..<packets).map { index in
            let now = spacing * index
            return (now, shaper.handle(size: size, at: now))
        }
    }

    static func delays(_ fates: [(sent: Duration, fate: LinkShaper.Fate)]) -> [Double] {
        fates.compactMap {
            if case .deliver(let at, _, _) = $0.fate { (at - $0.sent).inSeconds * 1000 } else { nil }
        }
    }

    @Test func theZeroProfileDeliversEverythingAtOnce() {
        for (sent, fate) in Self.run(.zero, packets: 100) {
            #expect(fate == .deliver(at: sent, copies: 1, reordered: false))
        }
    }

    @Test func theSameSeedReplaysTheSameFatesAndAnotherSeedDoesNot() {
        let profile = LinkProfile(
            delay: .milliseconds(30), jitter: .normal(deviation: .milliseconds(5)), loss: .independent(0.05),
            duplication: 0.01, reordering: 0.01)
        let first = Self.run(profile, packets: 2000).map(\.fate)
        #expect(first == Self.run(profile, packets: 2000).map(\.fate))
        #expect(first != Self.run(profile, packets: 2000, seed: 2).map(\.fate))
    }

    @Test func aConstantDelayDelaysEveryPacketExactly() {
        #expect(Self.delays(Self.run(LinkProfile(delay: .milliseconds(25)), packets: 500)).allSatisfy { $0 == 25 })
    }

    @Test func independentLossIsWithinA99PercentInterval() {
        let n = 10_000
        let lost = Self.run(LinkProfile(loss: .independent(0.1)), packets: n).filter { $0.fate == .lost }.count
        let bound = 2.576 * (Double(n) * 0.1 * 0.9).squareRoot()
        #expect(abs(Double(lost) - 1000) < bound)
    }

    @Test func gilbertElliottLosesInBurstsAtItsMeanRate() {
        // Bad state: everything lost; entering 2 %, leaving 25 %: mean loss 0.02 / 0.27, mean
        // burst length 1 / 0.25 = 4 packets.
        let loss = LinkProfile.Loss.gilbertElliott(enterBad: 0.02, leaveBad: 0.25, lossInGood: 0, lossInBad: 1)
        let fates = Self.run(LinkProfile(loss: loss), packets: 100_000).map(\.fate)
        let lost = fates.filter { $0 == .lost }.count
        #expect(abs(Double(lost) / 100_000 - loss.mean) < 0.01)
        var bursts: [Int] = []
        var current = 0
        for fate in fates {
            if fate == .lost {
                current += 1
            } else if current > 0 {
                bursts.append(current)
                current = 0
            }
        }
        let meanBurst = Double(bursts.reduce(0, +)) / Double(bursts.count)
        #expect(abs(meanBurst - 4) < 0.3)
    }

    @Test(arguments: [
        LinkProfile.Jitter.uniform(spread: .milliseconds(4)), .normal(deviation: .milliseconds(2)),
    ])
    func meanDelayStaysWithinHalfAMillisecondOfTheProfile(jitter: LinkProfile.Jitter) {
        // Packets 50 ms apart: jitter never has to be clamped to keep order.
        let delays = Self.delays(
            Self.run(LinkProfile(delay: .milliseconds(40), jitter: jitter), spacing: .milliseconds(50)))
        let mean = delays.reduce(0, +) / Double(delays.count)
        #expect(abs(mean - 40) < 0.5)
        #expect(delays.max()! > 41)  // it does vary
    }

    @Test func jitterNeverReordersPackets() {
        let fates = Self.run(
            LinkProfile(delay: .milliseconds(40), jitter: .normal(deviation: .milliseconds(15))),
            spacing: .milliseconds(5))
        let arrivals = fates.compactMap { if case .deliver(let at, _, _) = $0.fate { at } else { nil } }
        #expect(arrivals == arrivals.sorted())
    }

    @Test func aRateLimitSpacesPacketsAndDropsWhatTheQueueCannotHold() {
        // 1 Mbit/s, 1,250-byte packets (10 ms each), eleven at once, room for 10,000 bytes
        // waiting: the first goes out, eight wait, the last two do not fit.
        var shaper = LinkShaper(profile: LinkProfile(rate: 1_000_000, queueBytes: 10_000), seed: 1, link: "l")
        let fates = (0..<11).map { _ in shaper.handle(size: 1250, at: .zero) }
        let delivered = fates.compactMap { if case .deliver(let at, _, _) = $0 { at } else { nil } }
        #expect(delivered == (1...9).map { Duration.milliseconds(10 * $0) })
        #expect(fates.suffix(2) == [.queueFull, .queueFull])
        // Once the queue drained, packets pass again.
        #expect(
            shaper.handle(size: 1250, at: .milliseconds(200))
                == .deliver(at: .milliseconds(210), copies: 1, reordered: false))
    }

    @Test func packetsOverTheMTUAreDropped() {
        var shaper = LinkShaper(profile: LinkProfile(mtu: 1500), seed: 1, link: "l")
        #expect(shaper.handle(size: 1501, at: .zero) == .tooBig)
        #expect(shaper.handle(size: 1500, at: .zero) == .deliver(at: .zero, copies: 1, reordered: false))
    }

    @Test func duplicationAndReorderingHappenAtTheirRates() {
        let fates = Self.run(LinkProfile(delay: .milliseconds(30), duplication: 0.05, reordering: 0.02)).map(\.fate)
        let duplicated = fates.filter { if case .deliver(_, 2, _) = $0 { true } else { false } }.count
        let reordered = fates.filter { if case .deliver(_, _, true) = $0 { true } else { false } }.count
        #expect(abs(Double(duplicated) - 500) < 2.576 * (10_000 * 0.05 * 0.95).squareRoot())
        #expect(abs(Double(reordered) - 200) < 2.576 * (10_000 * 0.02 * 0.98).squareRoot())
        // A reordered packet skips the delay, so it arrives before the one sent just before it.
        let runs = Self.run(LinkProfile(delay: .milliseconds(30), reordering: 0.02))
        for (previous, packet) in zip(runs, runs.dropFirst()) {
            guard case .deliver(let at, _, true) = packet.fate, case .deliver(let before, _, false) = previous.fate
            else { continue }
            #expect(at < before)
        }
    }

    @Test func lossModelsKnowTheirMeans() {
        #expect(LinkProfile.Loss.none.mean == 0)
        #expect(LinkProfile.Loss.independent(0.3).mean == 0.3)
        #expect(
            abs(
                LinkProfile.Loss.gilbertElliott(enterBad: 0.1, leaveBad: 0.3, lossInGood: 0.01, lossInBad: 0.5).mean
                    - 0.1325) < 1e-12)
    }
}
