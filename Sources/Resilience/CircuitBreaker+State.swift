extension CircuitBreaker {
    /// The breaker's state, for status pages.
    public enum State: Sendable, Hashable {
        case closed(consecutiveFailures: Int)
        /// Rejecting until `until`. An `until` in the past means the cool-down is over and the next
        /// caller will be the probe.
        case open(until: ContinuousClock.Instant)
        /// A probe is in flight; everyone else is rejected until it reports.
        case halfOpen

        public var name: StateName {
            switch self {
            case .closed: .closed
            case .open: .open
            case .halfOpen: .halfOpen
            }
        }
    }
}
