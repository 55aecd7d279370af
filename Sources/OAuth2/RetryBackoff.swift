import Resilience

/// Exponential backoff with full jitter (sleep a uniformly random time up to the exponential cap),
/// which spreads out the retries of many accounts that failed together, e.g. during a provider outage.
enum RetryBackoff {
    /// The upper bound of the pause after the `failedAttempt`-th attempt (1-based):
    /// initial, 2×initial, 4×initial, … never above `maximum`.
    static func cap(afterAttempt failedAttempt: Int, initial: Duration, maximum: Duration) -> Duration {
        ExponentialBackoff(initial: initial, maximum: maximum).ceiling(afterFailures: max(1, failedAttempt))
    }

    /// A uniformly random duration in `0...cap`, from the system's CSPRNG-backed generator.
    @Sendable static func fullJitter(_ cap: Duration) -> Duration {
        let nanoseconds = cap.nanosecondsClamped
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanoseconds))
    }
}
