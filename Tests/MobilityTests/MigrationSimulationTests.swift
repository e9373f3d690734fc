import OverlayCore
import Testing

@testable import Mobility

/// The migration protocol on a simulated network (see `MigrationWorld`): without faults it
/// hands the service over with every change; with a host crash or a cut connection after any
/// number of protocol messages, in twenty seeded runs each, exactly one host serves afterwards,
/// nothing acknowledged is lost, and late traffic is handled exactly once.
@Suite struct MigrationSimulationTests {
    @Test func withoutFaultsTheTargetServesEveryChange() {
        for seed in 1...20 as ClosedRange<UInt64> {
            var world = MigrationWorld(seed: seed, fault: .none)
            world.run()
            #expect(world.primaries == [.target], "seed \(seed)\n\(world.log.joined(separator: "\n"))")
            #expect(world.sourcePhase == .release, "seed \(seed)")
            #expect(world.targetMachine?.phase == .release && world.targetMachine?.failedOver == false, "seed \(seed)")
            #expect(world.epoch(.target) == 2)
            // The target holds the source's whole state as of the commit, then its own changes.
            let sourceState = world.hosts[.source]!.state!
            let targetState = world.hosts[.target]!.state!
            #expect(Array(targetState.prefix(sourceState.count)) == sourceState, "seed \(seed)")
            Self.checkNothingAcknowledgedIsLost(world, seed: seed)
        }
    }

    /// How many protocol messages a faultless run of this seed delivers in all, and before the
    /// source hears that the target took over.
    static func messageCounts(seed: UInt64) -> (all: Int, beforeTakeover: Int) {
        var world = MigrationWorld(seed: seed, fault: .none)
        world.run()
        let takeover = world.log.firstIndex { $0.contains("-> source: tookOver") } ?? world.log.count
        let before = world.log[..<takeover].filter { $0.contains(" -> ") }.count
        return (world.delivered, before)
    }

    @Test(arguments: [MigrationWorld.Side.source, .target])
    func aCrashAtAnyPointLeavesExactlyOnePrimaryAndLosesNothingAcknowledged(side: MigrationWorld.Side) {
        for seed in 1...20 as ClosedRange<UInt64> {
            let counts = Self.messageCounts(seed: seed)
            // A target that crashes after taking over is a primary failing, not the migration.
            let points = side == .source ? counts.all : counts.beforeTakeover
            for point in 1...points {
                var world = MigrationWorld(seed: seed, fault: .crash(side, afterMessages: point))
                world.run()
                // A source that dies before the target holds a replica takes the service with it.
                let survivor: [MigrationWorld.Side] =
                    side == .target ? [.source] : world.replicaInstalled ? [.target] : []
                #expect(
                    world.primaries == survivor,
                    "seed \(seed), \(side) crashes after \(point) messages\n\(world.log.joined(separator: "\n"))")
                Self.checkNothingAcknowledgedIsLost(world, seed: seed)
            }
        }
    }

    @Test func aCutConnectionAtAnyPointLeavesExactlyOnePrimary() {
        for seed in 1...20 as ClosedRange<UInt64> {
            for point in 1...Self.messageCounts(seed: seed).all {
                var world = MigrationWorld(seed: seed, fault: .cut(afterMessages: point))
                world.run()
                #expect(
                    world.primaries.count == 1,
                    "seed \(seed), cut after \(point) messages\n\(world.log.joined(separator: "\n"))")
                Self.checkNothingAcknowledgedIsLost(world, seed: seed)
            }
        }
    }

    @Test func theSameSeedReplaysTheSameRun() {
        var first = MigrationWorld(seed: 5, fault: .cut(afterMessages: 6))
        var second = MigrationWorld(seed: 5, fault: .cut(afterMessages: 6))
        var other = MigrationWorld(seed: 6, fault: .cut(afterMessages: 6))
        first.run()
        second.run()
        other.run()
        #expect(first.log == second.log)
        #expect(first.log != other.log)
    }

    /// Every change a serving host acknowledged is in the primary's state, exactly once, and
    /// every piece of late traffic was handled once.
    static func checkNothingAcknowledgedIsLost(_ world: MigrationWorld, seed: UInt64) {
        guard let primary = world.primaries.first, let state = world.hosts[primary]!.state else { return }
        let held = Set(state)
        #expect(held.count == state.count, "seed \(seed): a change applied twice")
        let missing = world.acknowledged.filter { !held.contains($0) }
        #expect(
            missing.isEmpty,
            "seed \(seed): acknowledged but lost: \(missing.prefix(5))\n\(world.log.joined(separator: "\n"))")
        #expect(Set(world.lateDelivered).count == world.lateDelivered.count, "seed \(seed): late traffic twice")
    }
}
