/// What the relay reports, injected from the composition root so that no relay code reaches a
/// process-global registry: `serve` passes `PrometheusRelayMetrics`, tests a recorder or
/// `NoopRelayMetrics`.
///
/// Calls come from event loops on every message: an implementation must not block, and should
/// not take a lock or look a series up by name on the per-message methods.
public protocol RelayMetrics: Sendable {
    /// A transaction's DATA got its final reply (`duration` from DATA to that reply). `bytes`
    /// is the message's size as the client sent it; it counts as relayed only when relayed.
    func messageEnded(_ result: ProxyMetrics.MessageResult, accountID: String?, duration: Duration, bytes: Int)
    /// A MAIL held back before any provider saw it (limits, quota, open breaker).
    func messageHeld(accountID: String)
    func loginFailed(_ result: ProxyMetrics.LoginFailureResult)
    func clientSessionOpened()
    func clientSessionClosed()
    func providerPushback(_ kind: ProxyMetrics.PushbackKind)
    /// `provider` is the configured provider name (gmail, outlook, custom), never a URL or account.
    func tokenRefreshed(provider: String, _ result: ProxyMetrics.TokenRefreshResult)
    func configReloaded(_ result: ProxyMetrics.ConfigReloadResult)
    /// Summed over every pool, at scrape time.
    func setUpstreamConnections(idle: Int, busy: Int, max: Int)
    /// Accounts per state, at scrape time; a state missing from `counts` has none.
    func setAccounts(_ counts: [ProxyMetrics.AccountState: Int])
    /// The fleet's quota figures, at scrape time; only replicas with `--state-url` call it.
    func setFleet(_ snapshot: FleetMetricsSnapshot)
}

extension RelayMetrics {
    public func setFleet(_ snapshot: FleetMetricsSnapshot) {}
}

/// For what runs without metrics (`demo`, `check`, most tests).
public struct NoopRelayMetrics: RelayMetrics {
    public init() {}
    public func messageEnded(_ result: ProxyMetrics.MessageResult, accountID: String?, duration: Duration, bytes: Int) {}
    public func messageHeld(accountID: String) {}
    public func loginFailed(_ result: ProxyMetrics.LoginFailureResult) {}
    public func clientSessionOpened() {}
    public func clientSessionClosed() {}
    public func providerPushback(_ kind: ProxyMetrics.PushbackKind) {}
    public func tokenRefreshed(provider: String, _ result: ProxyMetrics.TokenRefreshResult) {}
    public func configReloaded(_ result: ProxyMetrics.ConfigReloadResult) {}
    public func setUpstreamConnections(idle: Int, busy: Int, max: Int) {}
    public func setAccounts(_ counts: [ProxyMetrics.AccountState: Int]) {}
}
