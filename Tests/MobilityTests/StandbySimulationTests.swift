import OverlayCore
import Testing

@testable import Mobility

/// Hot standbys on a simulated network (see `StandbyWorld`): with one or two standbys and a
/// crash, a hang or a cut-off of the primary or of a standby right after any of the first
/// frames, and at points spread over the whole run, in seeded runs: the client never hears from
/// a host of an older epoch after one of a newer epoch spoke, nothing acknowledged is lost, the
/// service is served at the end whenever a standby held its state, and it has its standbys back.
@Suite struct StandbySimulationTests {
    static let faults: [(String, @Sendable (StandbyWorld.Target, Int) -> StandbyWorld.Fault)] = [
        ("crash", { .crash($0, afterFrames: $1) }), ("pause", { .pause($0, afterFrames: $1) }),
        ("cut", { .cut($0, afterFrames: $1) }),
    ]

    @Test(arguments: [1, 2] as [UInt8])
    func withoutFaultsOnePrimaryKeepsItsStandbysCurrent(standbys: UInt8) {
        for seed in 1...10 as ClosedRange<UInt64> {
            var world = StandbyWorld(seed: seed, fault: .none, standbys: standbys)
            world.run()
            #expect(world.primaries == [0], "seed \(seed)")
            let primary = world.hosting[0]!
            #expect(primary.readyStandbys.count == Int(standbys), "seed \(seed)")
            #expect(primary.epoch == 1, "no false alarm: seed \(seed)\n\(world.log.suffix(20).joined(separator: "\n"))")
            // Every change the client was told of is in every standby too (or on its way: one
            // at most, the one confirmed last).
            for standby in primary.standbys.values {
                let host = StandbyWorld.host(atOverlay: standby.peer.overlay)!
                let state = world.states[host] ?? []
                #expect(world.acknowledged.allSatisfy { state.contains($0.value) }, "seed \(seed)")
            }
            #expect(world.acknowledged.count > 150, "seed \(seed): \(world.acknowledged.count) confirmed")
        }
    }

    @Test(arguments: [StandbyWorld.Target.primary, .standby], [1, 2] as [UInt8])
    func anyFaultAtAnyPointLeavesOnePrimaryAndLosesNothingAcknowledged(
        target: StandbyWorld.Target, standbys: UInt8
    ) {
        var faultless = StandbyWorld(seed: 1, fault: .none, standbys: standbys)
        faultless.run()
        // Every frame of the first standby's recruitment and of its first operations, then
        // points across the run.
        let points = Array(1...16) + stride(from: 30, to: faultless.delivered, by: faultless.delivered / 6)
        for seed in 1...2 as ClosedRange<UInt64> {
            for (name, fault) in Self.faults {
                for point in points {
                    var world = StandbyWorld(seed: seed, fault: fault(target, point), standbys: standbys)
                    world.run()
                    let context = "seed \(seed), \(name) of the \(target) after \(point) frames"
                    Self.check(world, context: context)
                }
            }
        }
    }

    /// Two faults, the second at a failover's phase: of two standbys one crashes, and the
    /// primary, which claims the next epoch without it, crashes the moment the registry stored
    /// that claim (before its other standby heard of it), or a few heartbeats later. That
    /// standby, whose claim of the same epoch is refused, finds its silent primary holding it
    /// and claims the next: one host serves at the end, under epoch 3, and nothing acknowledged
    /// is lost.
    @Test(arguments: [Duration.zero, .milliseconds(10), .milliseconds(40)])
    func aPrimaryThatDiesJustAfterItReclaimedIsReplacedByItsOtherStandby(after: Duration) {
        var faultless = StandbyWorld(seed: 1, fault: .none, standbys: 2)
        faultless.run()
        var struck = 0
        for seed in 1...2 as ClosedRange<UInt64> {
            for point in stride(from: 1, to: faultless.delivered, by: 10) {
                var world = StandbyWorld(
                    seed: seed, fault: .crash(.standby, afterFrames: point), standbys: 2,
                    phaseFault: (.claimed, after: after))
                // Long enough for a host the dead primary recruited to give up on it (3 s) and be
                // recruited again.
                world.run(until: .seconds(9))
                // Both standbys held the state when the first one crashed (with one, two faults
                // leave nobody).
                guard world.readyAtFault == 2 else { continue }
                struck += 1
                let context =
                    "seed \(seed), a standby's crash after \(point) frames, the primary's \(after) after its claimed"
                Self.check(world, context: context)
                #expect(
                    world.phases.contains { $0 == (0, .claimed, 2) } && !world.alive.contains(0),
                    "\(context): the primary never crashed at its phase\n\(world.log.suffix(30).joined(separator: "\n"))"
                )
                #expect(
                    world.primaries.map { world.hosting[$0]!.epoch } == [3],
                    "\(context)\n\(world.log.suffix(30).joined(separator: "\n"))")
            }
        }
        #expect(struck >= 10, "only \(struck) runs had both standbys ready at the first fault")
    }

    /// Only the link between the primary and a standby fails: each thinks the other silent, and
    /// both reach the registry. The primary claims the next epoch without that standby and
    /// serves on; the standby's claim of the same epoch is refused, and the record, which does
    /// not name it, tells it to stop, not to claim the next one beside a primary that serves.
    @Test(arguments: [1, 2] as [UInt8])
    func aStandbyCutOffFromItsPrimaryAloneNeverServesBesideIt(standbys: UInt8) {
        var faultless = StandbyWorld(seed: 1, fault: .none, standbys: standbys)
        faultless.run()
        var struck = 0
        for seed in 1...2 as ClosedRange<UInt64> {
            for point in stride(from: 1, to: faultless.delivered, by: 7) {
                var world = StandbyWorld(seed: seed, fault: .sever(afterFrames: point), standbys: standbys)
                world.run()
                guard world.standbyHeldState else { continue }
                struck += 1
                let context = "seed \(seed), the link to a standby fails after \(point) frames"
                Self.check(world, context: context)
                #expect(world.primaries == [0], "\(context)\n\(world.log.suffix(30).joined(separator: "\n"))")
            }
        }
        #expect(struck >= 10, "only \(struck) runs had a standby to cut off")
    }

    static func check(_ world: StandbyWorld, context: String) {
        let trace = world.log.suffix(40).joined(separator: "\n")
        // Never two primaries the client hears from: once an epoch spoke, no older one does,
        // and each epoch is one host's.
        var newest: (epoch: UInt64, host: Int)?
        for ack in world.acknowledged.sorted(by: { $0.at < $1.at }) {
            if let newest, ack.epoch < newest.epoch || (ack.epoch == newest.epoch && ack.host != newest.host) {
                Issue.record(
                    "\(context): h\(ack.host) confirmed under epoch \(ack.epoch) after h\(newest.host) under \(newest.epoch)\n\(trace)"
                )
                return
            }
            newest = (ack.epoch, ack.host)
        }
        // A host's failover goes claim, claimed, restored, under one epoch.
        for (index, step) in world.phases.enumerated() where step.phase != .claim {
            let before: FailoverPhase = step.phase == .claimed ? .claim : .claimed
            #expect(
                world.phases[..<index].contains {
                    $0.host == step.host && $0.phase == before && $0.epoch == step.epoch
                },
                "\(context): h\(step.host) \(step.phase) under epoch \(step.epoch) without \(before)\n\(trace)")
        }
        let primaries = world.primaries
        #expect(primaries.count <= 1, "\(context): primaries \(primaries)\n\(trace)")
        // A fault that struck while a standby held the state (or that struck a standby) leaves
        // the service served.
        if world.faultAt == nil || world.standbyHeldState || world.fault.struckAStandby {
            #expect(primaries.count == 1, "\(context): nobody serves\n\(trace)")
        }
        guard let primary = primaries.first else { return }
        let state = world.states[primary] ?? []
        let lost = world.acknowledged.filter { !state.contains($0.value) }.map(\.value)
        #expect(lost.isEmpty, "\(context): confirmed and lost \(lost)\n\(trace)")
        // As many standbys as wanted, or as there are hosts left to be one.
        let ready = world.hosting[primary]!.readyStandbys.count
        #expect(ready == min(Int(world.wanted), world.alive.count - 1), "\(context): standbys not restored\n\(trace)")
        // A primary that won a claim says when its standbys were back.
        let epoch = world.hosting[primary]!.epoch
        if epoch > 1, ready == Int(world.wanted) {
            #expect(
                world.phases.contains { $0 == (primary, .restored, epoch) },
                "\(context): h\(primary) serves epoch \(epoch) with its standbys back, and never said so\n\(trace)")
        }
    }
}

extension StandbyWorld.Fault {
    var struckAStandby: Bool {
        switch self {
        case .crash(.standby, _), .pause(.standby, _), .cut(.standby, _), .sever: true
        default: false
        }
    }
}
