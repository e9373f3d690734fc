import RealModule

/// A distribution of non-negative values (times in seconds, sizes), sampled by inversion from a
/// `SeededGenerator`, so a seed fixes every draw. Used for churn session times now and for link
/// delays and jitter later.
public enum Distribution: Sendable, Equatable {
    /// Rate 1/mean.
    case exponential(mean: Double)
    /// Weibull with shape k and scale λ: heavy-tailed for k < 1, as measured session times are.
    case weibull(shape: Double, scale: Double)
    /// Pareto (type I) with shape α and minimum x_m.
    case pareto(shape: Double, scale: Double)

    /// Weibull with shape `shape` whose mean is `mean`.
    public static func weibull(shape: Double, mean: Double) -> Distribution {
        .weibull(shape: shape, scale: mean / Double.gamma(1 + 1 / shape))
    }

    /// Pareto with shape `shape` (> 1) whose mean is `mean`.
    public static func pareto(shape: Double, mean: Double) -> Distribution {
        .pareto(shape: shape, scale: mean * (shape - 1) / shape)
    }

    /// The expected value (infinite for Pareto with shape ≤ 1).
    public var mean: Double {
        switch self {
        case .exponential(let mean): mean
        case .weibull(let shape, let scale): scale * Double.gamma(1 + 1 / shape)
        case .pareto(let shape, let scale): shape <= 1 ? .infinity : shape * scale / (shape - 1)
        }
    }

    /// One draw.
    public func sample(using generator: inout SeededGenerator) -> Double {
        let u = generator.nextUnitInterval()
        switch self {
        case .exponential(let mean): return -mean * Double.log(u)
        case .weibull(let shape, let scale): return scale * Double.pow(-Double.log(u), 1 / shape)
        case .pareto(let shape, let scale): return scale / Double.pow(u, 1 / shape)
        }
    }

    /// The cumulative distribution function, for tests of sample shape.
    public func cdf(_ x: Double) -> Double {
        guard x > 0 else { return 0 }
        switch self {
        case .exponential(let mean): return 1 - Double.exp(-x / mean)
        case .weibull(let shape, let scale): return 1 - Double.exp(-Double.pow(x / scale, shape))
        case .pareto(let shape, let scale): return x < scale ? 0 : 1 - Double.pow(scale / x, shape)
        }
    }
}
