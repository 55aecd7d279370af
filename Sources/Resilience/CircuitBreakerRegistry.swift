import NIOConcurrencyHelpers

/// One breaker per key (an upstream host, a token endpoint), created on first use and kept for the
/// life of the process, all sharing one configuration, clock and transition callback.
public final class CircuitBreakerRegistry: Sendable {
    /// The configuration every breaker is created with.
    public let configuration: CircuitBreaker.Configuration
    private let clock: ResilienceClock
    private let onTransition: (@Sendable (CircuitBreaker.Transition) -> Void)?
    private let breakers = NIOLockedValueBox([String: CircuitBreaker]())

    public init(configuration: CircuitBreaker.Configuration = .init(), clock: ResilienceClock = .system,
                onTransition: (@Sendable (CircuitBreaker.Transition) -> Void)? = nil) {
        self.configuration = configuration
        self.clock = clock
        self.onTransition = onTransition
    }

    /// The breaker for `key`, named `key`; the same instance on every call.
    public func breaker(for key: String) -> CircuitBreaker {
        breakers.withLockedValue { breakers in
            if let existing = breakers[key] { return existing }
            let created = CircuitBreaker(name: key, configuration: configuration, clock: clock, onTransition: onTransition)
            breakers[key] = created
            return created
        }
    }

    /// Every breaker created so far, sorted by name so that status pages are stable.
    public var all: [CircuitBreaker] {
        breakers.withLockedValue { Array($0.values) }.sorted { $0.name < $1.name }
    }
}
