/// A value stored under a key: opaque bytes with an epoch and a lease. Between two versions of
/// one key the higher epoch wins; at equal epochs the same value whose lease ends later (a
/// renewal), never another value: one epoch holds one value, so two writers that both claim the
/// next epoch cannot both succeed (the registry's fence). A value whose lease has run out is
/// gone.
public struct StoredEntry: Hashable, Sendable {
    public var key: ChordID
    public var value: [UInt8]
    /// Grows with every new version the owner writes.
    public var epoch: UInt64
    /// How long the value lives from when it is received; replicas carry what is left of it.
    public var lease: Duration

    public init(key: ChordID, value: [UInt8], epoch: UInt64, lease: Duration) {
        self.key = key
        self.value = value
        self.epoch = epoch
        self.lease = lease
    }
}

/// The keys one node holds, as primary or replica, each with the instant (on the node's own
/// clock) its lease ends.
public struct KeyStore: Sendable, Equatable {
    struct Held: Sendable, Equatable {
        var value: [UInt8]
        var epoch: UInt64
        var expires: Duration
    }

    private(set) var held: [ChordID: Held] = [:]

    /// The most keys one node holds: a new key beyond them is refused (a peer storing keys
    /// without end would otherwise fill its memory and the frames that replicate them).
    public static let maximumKeys = 16_384

    public init() {}

    /// Keys held, live or not yet expired by `expire(now:)`.
    public var count: Int { held.count }

    /// Merges a received version: kept when it has a higher epoch, or the same epoch, the same
    /// value and a later end of lease. Returns whether the store changed.
    @discardableResult
    public mutating func merge(_ entry: StoredEntry, now: Duration) -> Bool {
        let incoming = Held(value: entry.value, epoch: entry.epoch, expires: now + entry.lease)
        guard entry.lease > .zero else { return false }
        if let current = held[entry.key], current.expires > now {
            guard
                entry.epoch > current.epoch
                    || (entry.epoch == current.epoch && entry.value == current.value
                        && incoming.expires > current.expires)
            else { return false }
        } else if held[entry.key] == nil, held.count >= Self.maximumKeys {
            expire(now: now)
            guard held.count < Self.maximumKeys else { return false }
        }
        held[entry.key] = incoming
        return true
    }

    /// The live version of a key, with the lease it has left.
    public func entry(_ key: ChordID, now: Duration) -> StoredEntry? {
        guard let current = held[key], current.expires > now else { return nil }
        return StoredEntry(key: key, value: current.value, epoch: current.epoch, lease: current.expires - now)
    }

    /// Live entries whose keys satisfy `include`.
    public func entries(now: Duration, where include: (ChordID) -> Bool) -> [StoredEntry] {
        held.compactMap { key, current in
            guard current.expires > now, include(key) else { return nil }
            return StoredEntry(key: key, value: current.value, epoch: current.epoch, lease: current.expires - now)
        }.sorted { $0.key < $1.key }
    }

    /// Drops every value whose lease has ended.
    public mutating func expire(now: Duration) {
        held = held.filter { $0.value.expires > now }
    }
}
