import FleetState
import Resilience

/// How the relay holds back when accounts hit limits or providers push back. One value for the
/// whole process; per-account numbers come from the account's `limits`.
public struct ResilienceSettings: Sendable {
    /// Time source for windows, pauses and breakers; tests inject a manual clock (TestSupport's `ManualClock`).
    public var clock: ResilienceClock = .system
    /// Where the provider pushbacks below are shared with the other replicas of a fleet
    /// (`--state-url`); nil: they stay this replica's.
    public var fleetPushbacks: FleetPushbackBridge?
    /// How long a transaction over `max_concurrent_messages` waits before it is refused.
    public var concurrencyWait: Duration = .seconds(5)
    /// How long an account rests after the provider said its quota is spent. The provider does not
    /// say when it frees, so one probing message per pause finds out.
    public var quotaPause: Duration = .seconds(1800)
    /// After the provider refused a connection as one too many, the account's pool runs one
    /// connection short for this long.
    public var connectionLimitPause: Duration = .seconds(60)
    /// New connections after the provider said "slow down", with full jitter.
    public var slowDownBackoff = ExponentialBackoff(initial: .seconds(1), maximum: .seconds(300))
    /// One breaker per upstream host:port; trips on connect, TLS and timeout failures.
    public var hostBreaker = CircuitBreaker.Configuration()
    /// One breaker per token endpoint host.
    public var tokenBreaker = CircuitBreaker.Configuration()
    /// One per account: AUTH refused even with a freshly refreshed token means the credentials
    /// themselves are bad, so the account stops trying, and probes rarely.
    public var credentialsBreaker = CircuitBreaker.Configuration(
        failureThreshold: 3, coolDown: ExponentialBackoff(initial: .seconds(300), maximum: .seconds(3600)))

    /// The fleet's shared count of every account's limits (`--state-url`); nil counts this
    /// replica alone.
    public var fleetQuota: FleetQuota?

    public init() {}
}
