import OverlayCore
import RealModule

/// One direction of one link, as a state machine: each packet handed to it gets its fate.
/// Times are durations on the run's clock (since its start). The same profile, seed and
/// packets give the same fates, so a run's network can be replayed.
public struct LinkShaper: Sendable {
    public var profile: LinkProfile
    private var random: SeededGenerator
    private var inBadState = false
    /// Accepted packets not yet fully sent (rate limit): when each starts and ends on the
    /// wire. The one on the wire has left the queue; the rest wait in it.
    private var transmissions: [(start: Duration, end: Duration, size: Int)] = []
    /// Delivery time of the latest packet not reordered: delay jitter never reorders.
    private var lastDelivery: Duration = .zero

    /// What happens to one packet.
    public enum Fate: Sendable, Equatable {
        /// Delivered at this time; `copies` is 2 when duplicated.
        case deliver(at: Duration, copies: Int, reordered: Bool)
        /// Lost on the link (the loss model).
        case lost
        /// Did not fit the queue behind the rate limit.
        case queueFull
        /// Larger than the MTU.
        case tooBig
    }

    public init(profile: LinkProfile, seed: UInt64, link: String) {
        self.profile = profile
        random = SeededGenerator(seed: seed).derived("link/\(link)")
    }

    /// Decides the fate of a packet of `size` bytes handed to the link at `now`. Every random
    /// draw is made for every packet, whatever the outcome, so one packet's fate never shifts
    /// the draws of the next.
    public mutating func handle(size: Int, at now: Duration) -> Fate {
        let lossDraw = random.nextUnitInterval()
        let stateDraw = random.nextUnitInterval()
        let duplicateDraw = random.nextUnitInterval()
        let reorderDraw = random.nextUnitInterval()
        let jitter = drawJitter()

        guard size <= profile.mtu else { return .tooBig }
        if isLost(lossDraw, stateDraw) { return .lost }

        var leaves = now
        if let rate = profile.rate, rate > 0 {
            transmissions.removeAll { $0.end <= now }
            let waiting = transmissions.filter { $0.start > now }.reduce(0) { $0 + $1.size }
            let start = max(now, transmissions.last?.end ?? now)
            guard start == now || waiting + size <= profile.queueBytes else { return .queueFull }
            leaves = start + .nanoseconds(Int64((Double(size) * 8 / Double(rate) * 1e9).rounded()))
            transmissions.append((start, leaves, size))
        }
        let copies = duplicateDraw < profile.duplication ? 2 : 1
        if reorderDraw < profile.reordering {
            return .deliver(at: leaves, copies: copies, reordered: true)
        }
        let arrives = max(leaves + profile.delay + jitter, lastDelivery, leaves)
        lastDelivery = arrives
        return .deliver(at: arrives, copies: copies, reordered: false)
    }

    private mutating func isLost(_ lossDraw: Double, _ stateDraw: Double) -> Bool {
        switch profile.loss {
        case .none: return false
        case .independent(let p): return lossDraw < p
        case .gilbertElliott(let enter, let leave, let good, let bad):
            inBadState = inBadState ? stateDraw >= leave : stateDraw < enter
            return lossDraw < (inBadState ? bad : good)
        }
    }

    /// One jitter draw (two uniforms, always), as a signed offset from the delay.
    private mutating func drawJitter() -> Duration {
        let u1 = random.nextUnitInterval()
        let u2 = random.nextUnitInterval()
        switch profile.jitter {
        case .none:
            return .zero
        case .uniform(let spread):
            return spread * (2 * u1 - 1)
        case .normal(let deviation):
            // Box-Muller.
            let z = (-2 * Double.log(u1)).squareRoot() * Double.cos(2 * .pi * u2)
            return deviation * z
        case .pareto(let mean, let shape):
            guard shape > 1 else { return .zero }
            let scale = mean.inSeconds * (shape - 1) / shape
            return .nanoseconds(Int64((scale / Double.pow(u1, 1 / shape) * 1e9).rounded()))
        }
    }
}
