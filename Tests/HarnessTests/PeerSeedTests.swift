import OverlayCore
import Testing

@testable import Harness

/// Every peer draws from one seed the coordinator derives from the run's: the same run seed
/// gives every peer the same draws again, and no two peers draw alike.
struct PeerSeedTests {
    @Test func aPeersSeedFollowsTheRunsSeedAndDiffersFromEveryOtherPeers() {
        let peers = (1...64).map { PeerName(index: $0) }
        let seeds = peers.map { TestbedRun.seed(of: $0, run: 7) }
        #expect(Set(seeds).count == peers.count)
        #expect(seeds == peers.map { TestbedRun.seed(of: $0, run: 7) })
        #expect(Set(peers.map { TestbedRun.seed(of: $0, run: 8) }).isDisjoint(with: seeds))
    }
}
