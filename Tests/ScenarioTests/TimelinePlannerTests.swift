import Foundation
import OverlayCore
import Testing

@testable import Scenario

/// The timeline expanded for a seed: explicit steps, churn, determinism, distribution shape.
@Suite struct TimelinePlannerTests {
    static func churnScenario(
        peers: Int = 20, session: String = "{distribution: weibull, shape: 0.6, mean: 20s}", duration: String = "60s",
        rate: String? = nil, crashFraction: Double = 0.3, seed: UInt64 = 1
    ) throws -> Scenario {
        let yaml = """
            name: churn-test
            seed: \(seed)
            peers: \(peers)
            timeline:
              - at: 0s
                spawn: all
              - at: 1s
                churn:
                  duration: \(duration)
                  session: \(session)
                  crash-fraction: \(crashFraction)
            \(rate.map { "      arrival-rate: \($0)" } ?? "")
                  exclude: [peer-1]
            """
        return try Scenario.parse(yaml, file: "churn-test.yaml")
    }

    @Test func explicitStepsBecomeSinglePeerActionsInOrder() throws {
        let yaml = """
            name: plain
            peers: 3
            timeline:
              - at: 0s
                spawn: all
              - at: 0s
                wait: ready
              - at: 1s
                crash: peer-2
              - at: 1s
                spawn: {count: 1}
              - at: 2s
                leave: all
            """
        let plan = try Scenario.parse(yaml, file: "plain.yaml").plan()
        let kinds = plan.actions.map(\.kind)
        let p = PeerName.init(index:)
        #expect(
            kinds == [
                .spawn(p(1)), .spawn(p(2)), .spawn(p(3)), .waitReady(timeout: .seconds(30)), .crash(p(2)), .spawn(p(4)),
                .leave(p(1)), .leave(p(3)), .leave(p(4)),
            ])
        #expect(plan.peers == [p(1), p(2), p(3), p(4)])
        #expect(plan.end == .seconds(2))
        #expect(plan.actions.map(\.stepIndex) == [0, 0, 0, 1, 2, 3, 4, 4, 4])
    }

    @Test func theSameSeedGivesTheSameScheduleAndAnotherSeedAnother() throws {
        let first = try Self.churnScenario().plan(seed: 7)
        let again = try Self.churnScenario().plan(seed: 7)
        let other = try Self.churnScenario().plan(seed: 8)
        #expect(first == again)
        #expect(first.actions != other.actions)
        #expect(first.actions.contains { $0.fromChurn })
    }

    @Test func churnNeverTouchesExcludedPeersAndStaysInsideItsWindow() throws {
        let plan = try Self.churnScenario().plan()
        let churn = plan.actions.filter(\.fromChurn)
        #expect(!churn.isEmpty)
        for action in churn {
            #expect(action.at >= .seconds(1) && action.at < .seconds(61))
            switch action.kind {
            case .leave(let name), .crash(let name), .spawn(let name): #expect(name != PeerName(index: 1))
            default: Issue.record("churn produced \(action.kind)")
            }
        }
        #expect(plan.end == .seconds(61))
    }

    @Test func everyPeerIsSpawnedBeforeItLeavesAndLeavesAtMostOnce() throws {
        let plan = try Self.churnScenario(peers: 50, rate: "2").plan()
        var running: Set<PeerName> = []
        var gone: Set<PeerName> = []
        for action in plan.actions {
            switch action.kind {
            case .spawn(let name):
                #expect(!running.contains(name) && !gone.contains(name))
                running.insert(name)
            case .leave(let name), .crash(let name):
                #expect(running.remove(name) != nil, "\(name) ended without running")
                gone.insert(name)
            default: break
            }
        }
    }

    /// Kolmogorov-Smirnov distance between samples and a distribution.
    static func ksDistance(_ samples: [Double], _ distribution: Distribution) -> Double {
        let sorted = samples.sorted()
        let n = Double(sorted.count)
        var distance = 0.0
        for (index, x) in sorted.enumerated() {
            let cdf = distribution.cdf(x)
            distance = max(distance, abs(cdf - Double(index) / n), abs(Double(index + 1) / n - cdf))
        }
        return distance
    }

    @Test(arguments: [
        ("{distribution: exponential, mean: 20s}", Distribution.exponential(mean: 20)),
        ("{distribution: weibull, shape: 0.6, mean: 20s}", .weibull(shape: 0.6, mean: 20)),
        ("{distribution: pareto, shape: 2.5, mean: 20s}", .pareto(shape: 2.5, mean: 20)),
    ])
    func sessionTimesFollowTheDistribution(session: String, distribution: Distribution) throws {
        // 10,000 governed peers, no arrivals, a window long enough for every session to end:
        // each peer's departure time is one draw.
        let n = 10_000
        let plan = try Self.churnScenario(peers: n + 1, session: session, duration: "100000h", rate: "0").plan()
        let departures = plan.actions.filter(\.fromChurn).map { ($0.at - .seconds(1)).inSeconds }
        #expect(departures.count == n)
        let critical = 1.628 / Double(n).squareRoot()  // 1 % level
        #expect(Self.ksDistance(departures, distribution) < critical)
    }

    @Test func crashFractionAndArrivalRateHoldWithinStatisticalBounds() throws {
        let departures = try Self.churnScenario(peers: 10_001, duration: "100000h", rate: "0", crashFraction: 0.3)
            .plan().actions.filter(\.fromChurn)
        let crashes = departures.filter { if case .crash = $0.kind { true } else { false } }.count
        let sigma = (10_000 * 0.3 * 0.7).squareRoot()
        #expect(abs(Double(crashes) - 3000) < 4 * sigma)

        // One governed peer and 2 arrivals/s for 1,000 s: Poisson, mean 2,000.
        let arrivals = try Self.churnScenario(peers: 2, duration: "1000s", rate: "2").plan().actions.filter {
            if case .spawn = $0.kind { $0.fromChurn } else { false }
        }.count
        #expect(abs(Double(arrivals) - 2000) < 4 * 2000.0.squareRoot())
    }

    @Test func anExplicitStepOnAPeerChurnRemovedNamesChurnAndTheSeed() throws {
        let plan = try Self.churnScenario().plan()
        guard
            let (name, time) = plan.actions.lazy.compactMap({ action -> (PeerName, Duration)? in
                if case .leave(let name) = action.kind, action.fromChurn { (name, action.at) } else { nil }
            }).first
        else {
            Issue.record("churn made nobody leave")
            return
        }
        let yaml = """
            name: churn-then-crash
            seed: 1
            peers: 20
            timeline:
              - at: 0s
                spawn: all
              - at: 1s
                churn:
                  duration: 60s
                  session: {distribution: weibull, shape: 0.6, mean: 20s}
                  crash-fraction: 0.3
                  exclude: [peer-1]
              - at: 70s
                crash: \(name)
            """
        #expect(throws: Diagnostics.self) { try Scenario.parse(yaml, file: "c.yaml") }
        do {
            _ = try Scenario.parse(yaml, file: "c.yaml")
        } catch {
            #expect(
                error.items.map(\.message) == [
                    "\(name) is not running at 70s (churn made it leave at \(time.text), seed 1)"
                ])
            #expect(error.items.first?.position == SourcePosition(file: "c.yaml", line: 14, column: 12))
        }
    }
}
