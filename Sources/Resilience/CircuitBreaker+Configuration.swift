extension CircuitBreaker {
    public struct Configuration: Sendable, Hashable {
        /// Consecutive failures that open a closed breaker; values below 1 are treated as 1.
        public var failureThreshold: Int
        /// The wait of the n-th consecutive opening is `coolDown.ceiling(afterFailures: n)`, without
        /// jitter: one breaker guards one host, so there is no herd of breakers to spread out.
        public var coolDown: ExponentialBackoff
        /// A half-open probe that has not reported back after this long is forgotten and another may
        /// go, so that one lost probe cannot wedge the breaker. Negative values are treated as 0.
        public var probeTimeout: Duration

        public init(failureThreshold: Int = 5,
                    coolDown: ExponentialBackoff = ExponentialBackoff(initial: .seconds(5), maximum: .seconds(300)),
                    probeTimeout: Duration = .seconds(60)) {
            self.failureThreshold = failureThreshold
            self.coolDown = coolDown
            self.probeTimeout = probeTimeout
        }

        /// The same configuration with out-of-range values brought into range.
        var clamped: Configuration {
            Configuration(failureThreshold: max(1, failureThreshold), coolDown: coolDown,
                          probeTimeout: max(.zero, probeTimeout))
        }
    }
}
