import Testing

@testable import DHT

/// The store under the registry: one value per epoch, so that of two hosts that both claim the
/// next epoch of a service exactly one succeeds (the standbys' fence).
@Suite struct KeyStoreTests {
    @Test func theStoreKeepsOneValuePerEpochSoOnlyOneClaimOfAnEpochSucceeds() {
        var store = KeyStore()
        let key = ChordID.hashing("service:voice")
        func merge(_ value: [UInt8], epoch: UInt64, lease: Duration, at now: Duration) -> Bool {
            store.merge(StoredEntry(key: key, value: value, epoch: epoch, lease: lease), now: now)
        }
        #expect(merge([1], epoch: 2, lease: .seconds(10), at: .zero))
        // Another value under the same epoch (a second claimant): refused, even with a longer lease.
        #expect(!merge([2], epoch: 2, lease: .seconds(20), at: .seconds(1)))
        #expect(store.entry(key, now: .seconds(1))?.value == [1])
        // The same value renewed: kept; a higher epoch: wins.
        #expect(merge([1], epoch: 2, lease: .seconds(10), at: .seconds(2)))
        #expect(merge([2], epoch: 3, lease: .seconds(10), at: .seconds(3)))
        #expect(store.entry(key, now: .seconds(3))?.value == [2])
        // Once the lease ran out, any value may take the key again.
        #expect(merge([3], epoch: 1, lease: .seconds(10), at: .seconds(20)))
    }

    /// A node holds at most `maximumKeys`: a new key beyond them is refused (an expired one
    /// makes room), a key it holds is still renewed or replaced.
    @Test func theStoreHoldsAtMostItsLimitOfKeys() {
        var store = KeyStore()
        func merge(
            _ key: String, _ value: UInt8, epoch: UInt64, lease: Duration = .seconds(60), at now: Duration = .zero
        )
            -> Bool
        {
            store.merge(StoredEntry(key: .hashing(key), value: [value], epoch: epoch, lease: lease), now: now)
        }
        for index in 0..<KeyStore.maximumKeys {
            _ = merge("k\(index)", 1, epoch: 1, lease: .seconds(index == 0 ? 1 : 60))
        }
        #expect(store.count == KeyStore.maximumKeys)
        let refused = merge("new", 1, epoch: 1)
        let replaced = merge("k5", 2, epoch: 2)
        #expect(!refused && replaced)
        // Once the first key's lease ran out, there is room for one more.
        let roomMade = merge("new", 1, epoch: 1, at: .seconds(2))
        #expect(roomMade && store.count == KeyStore.maximumKeys)
    }

}
