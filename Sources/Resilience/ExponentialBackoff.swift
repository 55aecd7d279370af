/// Exponential backoff: `initial`, `initial × multiplier`, … never above `maximum`.
public struct ExponentialBackoff: Sendable, Hashable {
    /// The ceiling after the first failure; zero or negative disables the backoff.
    public var initial: Duration
    /// The ceiling never grows past this; zero or negative disables the backoff.
    public var maximum: Duration
    /// Values below 1 (or NaN) are treated as 1, so the delay never shrinks with more failures.
    public var multiplier: Double

    public init(initial: Duration, maximum: Duration, multiplier: Double = 2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
    }

    /// The upper bound of the delay after `n` consecutive failures (1-based):
    /// `min(maximum, initial × multiplier^(n-1))`; zero for `n <= 0` and for non-positive durations.
    /// Computed in floating point so that huge `n` saturates at `maximum` instead of overflowing.
    public func ceiling(afterFailures n: Int) -> Duration {
        guard n > 0, initial > .zero, maximum > .zero else { return .zero }
        guard initial < maximum else { return maximum }
        guard n > 1 else { return initial }
        let factor = multiplier >= 1 ? multiplier : 1
        let nanoseconds = Double(initial.nanosecondsClamped) * Self.power(factor, n - 1)
        guard nanoseconds < Double(maximum.nanosecondsClamped) else { return maximum }
        return .nanoseconds(Int64(nanoseconds))
    }

    /// "Full jitter": `ceiling(afterFailures: n) × random`, uniform over `[0, ceiling]`, which spreads
    /// out the retries of many accounts that failed together.
    /// - Parameter random: in `[0, 1)`, normally `Double.random(in: 0..<1)`; clamped into `[0, 1]`.
    public func delay(afterFailures n: Int, random: Double) -> Duration {
        let ceiling = ceiling(afterFailures: n)
        guard random > 0 else { return .zero }
        guard random < 1 else { return ceiling }
        return .nanoseconds(Int64(Double(ceiling.nanosecondsClamped) * random))
    }

    /// `base^exponent` by squaring (at most 63 rounds for any `Int`), saturating at infinity;
    /// the standard library has no `pow` without Foundation.
    private static func power(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        var base = base
        var exponent = exponent
        while exponent > 0 {
            if exponent & 1 == 1 { result *= base }
            exponent >>= 1
            if exponent > 0 { base *= base }
        }
        return result
    }
}
