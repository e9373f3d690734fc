/// LinkEmulation decides what a link does to each packet: when it arrives, whether it is
/// lost, duplicated, reordered, queued behind a rate limit or too big. It is sans-I/O: a
/// profile and a seed go in, packets (size, time) go in, fates come out. The netns launcher's
/// userspace switch will carry them out on TUN devices; tests run it on a virtual clock.
import OverlayCore

/// What one direction of a link does to packets. The zero profile delivers everything at once.
public struct LinkProfile: Sendable, Equatable {
    /// Added to every packet.
    public var delay: Duration
    /// Spread of the delay around `delay`.
    public var jitter: Jitter
    public var loss: Loss
    /// Probability that a packet is delivered twice.
    public var duplication: Double
    /// Probability that a packet skips the delay and so overtakes the packets before it.
    public var reordering: Double
    /// Bits per second the link carries; nil for no limit.
    public var rate: Int?
    /// Bytes that may wait for the link when it is busy; a packet that does not fit is
    /// dropped (tail drop).
    public var queueBytes: Int
    /// Largest packet the link carries; larger ones are dropped.
    public var mtu: Int

    public init(
        delay: Duration = .zero, jitter: Jitter = .none, loss: Loss = .none, duplication: Double = 0,
        reordering: Double = 0, rate: Int? = nil, queueBytes: Int = 64 * 1024, mtu: Int = 65535
    ) {
        self.delay = delay
        self.jitter = jitter
        self.loss = loss
        self.duplication = duplication
        self.reordering = reordering
        self.rate = rate
        self.queueBytes = queueBytes
        self.mtu = mtu
    }

    /// Delivers every packet at once.
    public static let zero = LinkProfile()

    /// How the delay varies from packet to packet.
    public enum Jitter: Sendable, Equatable {
        case none
        /// Uniform in [-spread, +spread].
        case uniform(spread: Duration)
        /// Normal with this standard deviation (truncated so no packet arrives before it left).
        case normal(deviation: Duration)
        /// Pareto with this mean extra delay and shape: mostly small, sometimes large.
        case pareto(mean: Duration, shape: Double)
    }

    /// How packets are lost.
    public enum Loss: Sendable, Equatable {
        case none
        /// Each packet independently, with this probability.
        case independent(Double)
        /// Gilbert-Elliott: a good and a bad state with their own loss probabilities, moving
        /// good to bad with `enterBad` and back with `leaveBad` per packet: losses in bursts.
        case gilbertElliott(enterBad: Double, leaveBad: Double, lossInGood: Double, lossInBad: Double)

        /// The long-run loss probability.
        public var mean: Double {
            switch self {
            case .none: 0
            case .independent(let p): p
            case .gilbertElliott(let enter, let leave, let good, let bad):
                enter + leave == 0 ? good : (leave * good + enter * bad) / (enter + leave)
            }
        }
    }
}
