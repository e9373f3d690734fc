import GameWire

/// One game world's ticks as one receiver got them (`game.ticks[]`), from the capture alone:
/// tick numbers received, lost, duplicated and reordered, the largest gap between new ticks,
/// and what the ticks say of the inputs applied (in every tick, every player's `inputsApplied`
/// equals its `lastInput` when each input was applied once and in order).
public struct GameTickFigures: Sendable, Equatable, Codable {
    /// The receiving socket, `ip:port`, and its peer when the capture belongs to a run.
    public var receiver: String
    public var receiverName: String?
    /// Every address the ticks came from, in order of first appearance (one per host the world
    /// had while this receiver played).
    public var senders: [String]
    /// Distinct tick numbers received, and the first and last of them.
    public var ticks: Int
    public var firstTick: Int
    public var lastTick: Int
    /// Tick numbers between the first and last received that never arrived.
    public var lost: Int
    /// Of them, those the emulated network dropped (nil without a drops capture).
    public var lostByNetwork: Int?
    public var duplicates: Int
    /// Ticks that arrived after one with a higher number.
    public var reordered: Int
    /// The largest time between two new ticks, in milliseconds and in ticks (of the mean tick
    /// period this receiver saw).
    public var maxGapMs: Double
    public var tickMs: Double
    public var maxGapTicks: Double
    /// Ticks in which some player's `inputsApplied` differed from its `lastInput` (an input
    /// applied twice or skipped), and player entries whose `lastInput` went down against an
    /// earlier tick (an input undone).
    public var inputMismatches: Int
    public var inputRegressions: Int
    /// Each player's inputs as the last tick received showed them.
    public var players: [Player]

    public struct Player: Sendable, Equatable, Codable {
        public var id: Int
        public var lastInput: Int
        public var inputsApplied: Int
    }
}

/// Gathers game ticks per receiver while the capture is read.
struct GameTickStreams {
    private var trackers: [Endpoint: Tracker] = [:]
    /// Datagrams that start like a game tick but do not read as one.
    private(set) var malformed = 0

    struct Tracker {
        let receiver: Endpoint
        var senders: [Endpoint] = []
        var seen: Set<UInt32> = []
        var lowest = UInt32.max
        var highest: UInt32 = 0
        var duplicates = 0
        var reordered = 0
        var firstArrival: Int64 = 0
        var lastArrival: Int64 = 0
        var lastNew: Int64?
        var maxGapMicroseconds: Int64 = 0
        var mismatches = 0
        var regressions = 0
        /// Each player's last input at the highest tick seen so far.
        var players: [UInt32: (lastInput: UInt32, applied: UInt32)] = [:]
        var arrivals: [StreamDetail.Arrival] = []
    }

    /// Reads one UDP payload; says whether it was a game tick (read or malformed).
    mutating func add(_ payload: UnsafeRawBufferPointer, from source: Endpoint, to receiver: Endpoint, at time: Int64)
        -> Bool
    {
        guard GameTick.looksLikeGameTick(payload) else { return false }
        guard let tick = try? GameTick(bytes: payload) else {
            malformed += 1
            return true
        }
        var tracker = trackers[receiver] ?? Tracker(receiver: receiver)
        if tracker.seen.isEmpty { tracker.firstArrival = time }
        tracker.lastArrival = max(tracker.lastArrival, time)
        if !tracker.senders.contains(source) { tracker.senders.append(source) }
        let fresh = tracker.seen.insert(tick.tick).inserted
        let late = fresh && tick.tick < tracker.highest
        if !fresh {
            tracker.duplicates += 1
        } else {
            if late { tracker.reordered += 1 }
            if let previous = tracker.lastNew {
                tracker.maxGapMicroseconds = max(tracker.maxGapMicroseconds, time - previous)
            }
            tracker.lastNew = time
            if tick.players.contains(where: { $0.inputsApplied != $0.lastInput }) { tracker.mismatches += 1 }
            if tick.tick >= tracker.highest {
                for player in tick.players {
                    if let known = tracker.players[player.id], player.lastInput < known.lastInput {
                        tracker.regressions += 1
                    }
                    tracker.players[player.id] = (player.lastInput, player.inputsApplied)
                }
            }
        }
        tracker.lowest = min(tracker.lowest, tick.tick)
        tracker.highest = max(tracker.highest, tick.tick)
        if tracker.arrivals.count < RTPStreamTracker.sampleLimit {
            tracker.arrivals.append(
                StreamDetail.Arrival(microseconds: time, sequence: Int(tick.tick), duplicate: !fresh, reordered: late))
        }
        trackers[receiver] = tracker
        return true
    }

    /// The figures per receiver (by address), each with its arrivals for handoff windows.
    func finish() -> [(GameTickFigures, StreamDetail)] {
        trackers.values.sorted { $0.receiver < $1.receiver }.map { tracker in
            let span = Int(tracker.highest) - Int(tracker.lowest)
            let tickMs =
                span > 0
                ? ((Double(tracker.lastArrival - tracker.firstArrival) / Double(span) / 1000) * 1000).rounded() / 1000
                : 0
            let maxGapMs = Double(tracker.maxGapMicroseconds) / 1000
            let figures = GameTickFigures(
                receiver: tracker.receiver.description, senders: tracker.senders.map(\.description),
                ticks: tracker.seen.count, firstTick: Int(tracker.lowest), lastTick: Int(tracker.highest),
                lost: span + 1 - tracker.seen.count, duplicates: tracker.duplicates, reordered: tracker.reordered,
                maxGapMs: maxGapMs, tickMs: tickMs,
                maxGapTicks: tickMs > 0 ? (maxGapMs / tickMs * 100).rounded() / 100 : 0,
                inputMismatches: tracker.mismatches, inputRegressions: tracker.regressions,
                players: tracker.players.keys.sorted().map { id in
                    GameTickFigures.Player(
                        id: Int(id), lastInput: Int(tracker.players[id]!.lastInput),
                        inputsApplied: Int(tracker.players[id]!.applied))
                })
            let first = Int(tracker.lowest)
            var arrivals = tracker.arrivals
            for index in arrivals.indices { arrivals[index].sequence -= first }
            return (figures, StreamDetail(arrivals: arrivals, gapHistogram: [], origin: Int64(first)))
        }
    }
}
