extension CircuitBreaker {
    /// What a caller may do now.
    public enum Permit: Sendable, Hashable {
        /// The breaker is closed: go ahead and report the outcome.
        case allowed
        /// The breaker is half-open and this caller is its one probe: go ahead and report the
        /// outcome, which decides whether the breaker closes or opens again.
        case probe
        /// Do not try; the breaker expects to decide again after about `retryAfter`.
        case rejected(retryAfter: Duration)
    }
}
