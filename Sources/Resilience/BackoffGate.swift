import NIOConcurrencyHelpers

/// Holds back new connection attempts for an account after the provider said "slow down"
/// (e.g. 421 or 454 with a rate hint), longer with every consecutive slow-down.
public final class BackoffGate: Sendable {
    /// The delays used, with jitter, after consecutive slow-downs.
    public let backoff: ExponentialBackoff
    private let clock: ResilienceClock
    private let random: @Sendable () -> Double
    private let state = NIOLockedValueBox(State())

    private struct State: Sendable {
        var consecutiveSlowDowns = 0
        var blockedUntil: ContinuousClock.Instant?
    }

    /// - Parameter random: values in `[0, 1)` for the jitter; injected so tests are deterministic.
    public init(backoff: ExponentialBackoff, clock: ResilienceClock = .system,
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.backoff = backoff
        self.clock = clock
        self.random = random
    }

    /// The provider asked to slow down: block for a jittered delay that grows with consecutive slow-downs.
    /// A block already running longer is kept: with jitter the new delay can come out shorter, and a
    /// later slow-down must not lift an earlier one.
    public func recordSlowDown() {
        let random = self.random()
        let now = clock.now()
        let backoff = self.backoff
        state.withLockedValue { state in
            if state.consecutiveSlowDowns < .max { state.consecutiveSlowDowns += 1 }
            let until = now + backoff.delay(afterFailures: state.consecutiveSlowDowns, random: random)
            if let current = state.blockedUntil, current >= until { return }
            state.blockedUntil = until
        }
    }

    /// Blocks until `until` unless a block already runs as long: for a slow-down another replica
    /// of the fleet was told about. Consecutive slow-downs are left alone, so this replica's own
    /// next one still backs off from where it was.
    /// Returns whether the block was extended.
    @discardableResult
    public func block(until: ContinuousClock.Instant) -> Bool {
        state.withLockedValue { state in
            if let current = state.blockedUntil, current >= until { return false }
            state.blockedUntil = until
            return true
        }
    }

    /// A connection got through: the provider is accepting again.
    public func recordSuccess() {
        state.withLockedValue { $0 = State() }
    }

    /// How long new attempts must still wait, or nil if they may go now.
    public func blockedFor() -> Duration? {
        let now = clock.now()
        return state.withLockedValue { state in
            guard let until = state.blockedUntil, until > now else { return nil }
            return until - now
        }
    }

    /// Slow-downs since the last success (or since creation).
    public var consecutiveSlowDowns: Int {
        state.withLockedValue { $0.consecutiveSlowDowns }
    }
}
