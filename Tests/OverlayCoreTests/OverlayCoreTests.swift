import Testing

@testable import OverlayCore

@Suite struct PeerNameTests {
    @Test(arguments: [("peer-1", 1), ("peer-42", 42), ("peer-65000", 65000)])
    func parses(text: String, index: Int) {
        #expect(PeerName(text)?.index == index)
        #expect(PeerName(text)?.description == text)
    }

    @Test(arguments: [
        "peer-0", "peer-01", "peer-", "peer", "Peer-1", "peer-1a", "peer--1", "node-1", "peer-١", "peer-+5", "peer- 5",
        "peer-65001",
    ])
    func rejects(text: String) {
        #expect(PeerName(text) == nil)
    }

    @Test func ordersByIndexNotText() {
        #expect(PeerName(index: 9) < PeerName(index: 10))
    }
}

@Suite struct SeededGeneratorTests {
    @Test func theSameSeedGivesTheSameNumbers() {
        var a = SeededGenerator(seed: 99)
        var b = SeededGenerator(seed: 99)
        #expect((0..<100).map { _ in a.next() } == (0..<100).map { _ in b.next() })
    }

    @Test func derivedStreamsAreReproducibleAndIndependent() {
        let root = SeededGenerator(seed: 5)
        var churn = root.derived("churn/step-2")
        var again = root.derived("churn/step-2")
        var link = root.derived("link/peer-1/up")
        let first = (0..<10).map { _ in churn.next() }
        #expect(first == (0..<10).map { _ in again.next() })
        #expect(first != (0..<10).map { _ in link.next() })
        var otherSeed = SeededGenerator(seed: 6).derived("churn/step-2")
        #expect(first != (0..<10).map { _ in otherSeed.next() })
    }

    @Test func unitIntervalNeverReachesItsEnds() {
        #expect(SeededGenerator.unitInterval(0) > 0)
        #expect(SeededGenerator.unitInterval(.max) < 1)
        #expect(SeededGenerator.unitInterval(1 << 63) == 0.5 + 0x1p-53)
    }

    @Test func unitIntervalDrawsAreStrictlyInsideAndUniform() {
        var generator = SeededGenerator(seed: 1)
        let draws = (0..<100_000).map { _ in generator.nextUnitInterval() }
        #expect(draws.allSatisfy { $0 > 0 && $0 < 1 })
        let mean = draws.reduce(0, +) / Double(draws.count)
        // Uniform(0,1): mean 1/2, standard error sqrt(1/12 / n) ≈ 0.0009.
        #expect(abs(mean - 0.5) < 0.004)
    }
}

@Suite struct DistributionTests {
    @Test(arguments: [
        Distribution.exponential(mean: 20), .weibull(shape: 0.6, mean: 20), .weibull(shape: 2, mean: 20),
        .pareto(shape: 2.5, mean: 20),
    ])
    func meanBasedConstructorsHaveThatMean(distribution: Distribution) {
        #expect(abs(distribution.mean - 20) < 1e-9)
    }

    @Test(arguments: [
        Distribution.exponential(mean: 20), .weibull(shape: 0.6, mean: 20), .pareto(shape: 3.5, mean: 20),
    ])
    func sampleMeansConverge(distribution: Distribution) {
        var generator = SeededGenerator(seed: 3)
        let n = 200_000
        let mean = (0..<n).reduce(0.0) { sum, _ in sum + distribution.sample(using: &generator) } / Double(n)
        #expect(abs(mean - 20) < 0.5)
    }

    @Test func samplesAreNeverNegativeAndParetoNeverBelowItsMinimum() {
        var generator = SeededGenerator(seed: 4)
        let pareto = Distribution.pareto(shape: 1.5, scale: 3)
        for _ in 0..<10_000 {
            #expect(pareto.sample(using: &generator) >= 3)
            #expect(Distribution.weibull(shape: 0.5, scale: 1).sample(using: &generator) >= 0)
        }
        #expect(pareto.mean == 9)
        #expect(Distribution.pareto(shape: 1, scale: 3).mean == .infinity)
    }
}
