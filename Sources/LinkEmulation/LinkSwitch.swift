import OverlayCore

/// The emulated network between peers: every IPv4 packet a peer sends goes through the
/// sender's uplink, then the receiver's downlink, to the peer that owns the destination
/// address, and nowhere else. Packets to an address no peer owns, and packets between
/// partitioned groups, are dropped and counted. Sans-I/O: the netns launcher reads packets
/// from TUN devices, hands them here with the time, and writes each delivery when it is due.
public struct LinkSwitch: Sendable {
    /// One direction of one peer's link.
    public struct LinkKey: Hashable, Sendable, Comparable {
        public var peer: PeerName
        public var up: Bool

        public static func < (lhs: LinkKey, rhs: LinkKey) -> Bool {
            (lhs.peer, lhs.up ? 0 : 1) < (rhs.peer, rhs.up ? 0 : 1)
        }
    }

    /// What one direction of a link did (`links[]` in the report): every lost packet is
    /// attributed to the network or, by elimination, to the service.
    public struct Counters: Sendable, Equatable {
        public var packets = 0
        public var delivered = 0
        public var lost = 0
        public var queueDrops = 0
        public var tooBig = 0
        public var duplicated = 0
        public var reordered = 0
        public var partitioned = 0
        /// Sent to an address no peer owns (or not IPv4).
        public var unrouted = 0
    }

    /// A packet to hand to a peer at a time.
    public struct Delivery: Sendable, Equatable {
        public var to: PeerName
        public var at: Duration
    }

    private let seed: UInt64
    private var owners: [UInt32: PeerName] = [:]
    private var shapers: [LinkKey: LinkShaper] = [:]
    private var group: [PeerName: Int] = [:]
    public private(set) var counters: [LinkKey: Counters] = [:]
    /// Packets whose destination no peer owns (or that are not IPv4).
    public private(set) var unknownDestination = 0

    public init(seed: UInt64) { self.seed = seed }

    /// Connects a peer: packets to `address` (IPv4, host byte order) go to it.
    public mutating func attach(_ peer: PeerName, address: UInt32, up: LinkProfile, down: LinkProfile) {
        owners[address] = peer
        shapers[LinkKey(peer: peer, up: true)] = LinkShaper(profile: up, seed: seed, link: "\(peer)/up")
        shapers[LinkKey(peer: peer, up: false)] = LinkShaper(profile: down, seed: seed, link: "\(peer)/down")
    }

    /// Disconnects a peer that left (its counters stay).
    public mutating func detach(_ peer: PeerName) {
        owners = owners.filter { $0.value != peer }
    }

    /// Changes one direction of a peer's link (or both) from the next packet on; the link
    /// keeps its random stream, so a change does not replay earlier fates.
    public mutating func setProfile(_ profile: LinkProfile, for peer: PeerName, up: Bool, down: Bool) {
        for (direction, applies) in [(true, up), (false, down)] where applies {
            shapers[LinkKey(peer: peer, up: direction)]?.profile = profile
        }
    }

    /// Peers in different groups no longer reach each other; peers in no group reach nobody
    /// in a group.
    public mutating func partition(_ groups: [[PeerName]]) {
        group = [:]
        for (index, members) in groups.enumerated() { for peer in members { group[peer] = index } }
    }

    public mutating func heal() { group = [:] }

    /// The fates of one packet `from` a peer at `now`: zero, one or two deliveries.
    public mutating func handle(_ packet: UnsafeRawBufferPointer, from sender: PeerName, at now: Duration) -> [Delivery]
    {
        let upKey = LinkKey(peer: sender, up: true)
        counters[upKey, default: Counters()].packets += 1
        guard packet.count >= 20, packet[0] >> 4 == 4,
            let receiver = owners[
                UInt32(packet[16]) << 24 | UInt32(packet[17]) << 16 | UInt32(packet[18]) << 8 | UInt32(packet[19])]
        else {
            unknownDestination += 1
            counters[upKey, default: Counters()].unrouted += 1
            return []
        }
        if group[sender] != group[receiver] {
            counters[upKey, default: Counters()].partitioned += 1
            return []
        }
        guard let upFate = shapers[upKey]?.handle(size: packet.count, at: now) else { return [] }
        guard let (leftUplink, copies) = record(upFate, on: upKey) else { return [] }
        let downKey = LinkKey(peer: receiver, up: false)
        var deliveries: [Delivery] = []
        for _ in 0..<copies {
            counters[downKey, default: Counters()].packets += 1
            guard let downFate = shapers[downKey]?.handle(size: packet.count, at: leftUplink),
                let (arrives, downCopies) = record(downFate, on: downKey)
            else { continue }
            for _ in 0..<downCopies { deliveries.append(Delivery(to: receiver, at: arrives)) }
        }
        return deliveries
    }

    /// Counts a fate; for a delivery returns its time and number of copies.
    private mutating func record(_ fate: LinkShaper.Fate, on key: LinkKey) -> (Duration, Int)? {
        switch fate {
        case .deliver(let at, let copies, let reordered):
            counters[key, default: Counters()].delivered += 1
            if copies > 1 { counters[key, default: Counters()].duplicated += 1 }
            if reordered { counters[key, default: Counters()].reordered += 1 }
            return (at, copies)
        case .lost: counters[key, default: Counters()].lost += 1
        case .queueFull: counters[key, default: Counters()].queueDrops += 1
        case .tooBig: counters[key, default: Counters()].tooBig += 1
        }
        return nil
    }
}
