/// Exponential backoff with full jitter (sleep a uniformly random time up to the exponential cap),
/// which spreads out the retries of many accounts that failed together, e.g. during a provider outage.
enum RetryBackoff {
    /// The upper bound of the pause after the `failedAttempt`-th attempt (1-based):
    /// initial, 2×initial, 4×initial, … never above `maximum`.
    static func cap(afterAttempt failedAttempt: Int, initial: Duration, maximum: Duration) -> Duration {
        guard initial > .zero, maximum > .zero else { return .zero }
        var cap = initial
        var doublings = max(0, failedAttempt - 1)
        while doublings > 0, cap < maximum {
            cap *= 2
            doublings -= 1
        }
        return min(cap, maximum)
    }

    /// A uniformly random duration in `0...cap`, from the system's CSPRNG-backed generator.
    @Sendable static func fullJitter(_ cap: Duration) -> Duration {
        let nanoseconds = cap.nanosecondsClamped
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanoseconds))
    }
}

extension Duration {
    /// Whole nanoseconds, saturating instead of trapping on absurd configured values.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return total
    }
}
