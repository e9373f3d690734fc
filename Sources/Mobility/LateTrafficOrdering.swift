/// A target that took a service over gets each sender's datagrams two ways for a moment: late,
/// the ones that still reached the old host (forwarded over the overlay, one hop longer), and
/// direct, once the sender follows the redirect. The direct ones overtake the last late ones,
/// and the receivers would get the stream out of order. This value, without I/O, puts each
/// sender's stream back in sequence order (16-bit serial numbers, as RTP's and the kind's
/// `MobileService.sequenceNumber(ofDatagram:)` says): while a sender's late packets are still
/// coming, a direct packet that is ahead of the stream waits until the late ones have filled
/// the hole, or for `maximumHold` at most (a packet lost on its way to the old host never comes).
/// Everything else goes through at once, unchanged: packets already behind the stream (the
/// judge sees them as reordered or duplicated, as they are), and every packet once the late
/// traffic is over.
public struct LateTrafficOrdering<Packet> {
    /// How long after a speaker's last late packet more may come, and how long a direct packet
    /// waits at most.
    public let lateWindow: Duration
    public let maximumHold: Duration

    private struct Stream {
        /// The highest sequence number let through, and when the last late packet came.
        var released: UInt16
        var lastLate: Duration?
        /// Direct packets ahead of the stream, in sequence order, and since when the first waits.
        var held: [(sequence: UInt16, packet: Packet)] = []
        var heldSince: Duration?
    }

    private var streams: [String: Stream] = [:]

    public init(lateWindow: Duration = .milliseconds(100), maximumHold: Duration = .milliseconds(100)) {
        self.lateWindow = lateWindow
        self.maximumHold = maximumHold
    }

    /// When `tick` has packets to let go, if any wait.
    public var nextDeadline: Duration? {
        streams.values.compactMap { stream in stream.heldSince.map { $0 + maximumHold } }.min()
    }

    /// Packets waiting now, over every speaker.
    public var heldCount: Int { streams.values.reduce(0) { $0 + $1.held.count } }

    /// A packet the old host forwarded: it goes now, and so do the direct packets it lets follow.
    public mutating func late(
        from sender: String, sequence: UInt16, packet: Packet, now: Duration
    ) -> [(sender: String, packet: Packet)] {
        var stream = streams[sender] ?? Stream(released: sequence &- 1)
        stream.lastLate = now
        return pass(sequence, packet, from: sender, stream)
    }

    /// A packet that came straight to this host: it goes now unless the speaker's late packets
    /// are still coming and it is ahead of the stream.
    public mutating func direct(
        from sender: String, sequence: UInt16, packet: Packet, now: Duration
    ) -> [(sender: String, packet: Packet)] {
        guard var stream = streams[sender] else { return [(sender, packet)] }
        guard let lastLate = stream.lastLate, now - lastLate < lateWindow, sequence &- stream.released > 1,
            Self.isAhead(sequence, of: stream.released)
        else {
            return pass(sequence, packet, from: sender, stream)
        }
        let index = stream.held.firstIndex { Self.isAhead($0.sequence, of: sequence) } ?? stream.held.endIndex
        stream.held.insert((sequence, packet), at: index)
        if stream.heldSince == nil { stream.heldSince = now }
        streams[sender] = stream
        return []
    }

    /// Lets go, in order, what waited `maximumHold`.
    public mutating func tick(now: Duration) -> [(sender: String, packet: Packet)] {
        var out: [(sender: String, packet: Packet)] = []
        for sender in streams.keys.sorted() {
            guard var stream = streams[sender], let since = stream.heldSince, now - since >= maximumHold else {
                continue
            }
            out += release(&stream, sender: sender, contiguousOnly: false)
            streams[sender] = stream
        }
        return out
    }

    /// The late traffic is over: everything waiting goes, in order, and nothing waits again.
    public mutating func finish() -> [(sender: String, packet: Packet)] {
        var out: [(sender: String, packet: Packet)] = []
        for sender in streams.keys.sorted() {
            var stream = streams[sender]!
            out += release(&stream, sender: sender, contiguousOnly: false)
        }
        streams = [:]
        return out
    }

    /// Lets a packet go now: first what waited for a hole before it (nothing can fill that hole
    /// any more), then the packet, then what it lets follow.
    private mutating func pass(
        _ sequence: UInt16, _ packet: Packet, from sender: String, _ stream: Stream
    ) -> [(sender: String, packet: Packet)] {
        var stream = stream
        var out: [(sender: String, packet: Packet)] = []
        while let first = stream.held.first, Self.isAhead(sequence, of: first.sequence) {
            out.append((sender, first.packet))
            stream.held.removeFirst()
        }
        out.append((sender, packet))
        if Self.isAhead(sequence, of: stream.released) { stream.released = sequence }
        out += release(&stream, sender: sender, contiguousOnly: true)
        streams[sender] = stream
        return out
    }

    private func release(
        _ stream: inout Stream, sender: String, contiguousOnly: Bool
    ) -> [(sender: String, packet: Packet)] {
        var out: [(sender: String, packet: Packet)] = []
        while let first = stream.held.first, !contiguousOnly || first.sequence == stream.released &+ 1 {
            out.append((sender, first.packet))
            stream.held.removeFirst()
            if Self.isAhead(first.sequence, of: stream.released) { stream.released = first.sequence }
        }
        stream.heldSince = stream.held.isEmpty ? nil : stream.heldSince
        return out
    }

    /// RFC 3550's serial order: `a` comes after `b` within half the sequence space.
    static func isAhead(_ a: UInt16, of b: UInt16) -> Bool {
        let difference = a &- b
        return difference != 0 && difference < 0x8000
    }
}
