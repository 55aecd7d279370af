import Prometheus

/// The relay's metrics in a Prometheus registry, every fixed series resolved once here: a
/// message costs two counter increments and a histogram record, with no lookup by name.
///
/// Building it also creates every fixed series at zero, so dashboards, `rate()` and the alerts
/// see them before the first event. Series go straight to `registry`, not through
/// swift-metrics' global factory, so two instances on two registries never share a count.
public final class PrometheusRelayMetrics: RelayMetrics {
    private let registry: PrometheusCollectorRegistry
    private let relayed, rejected, failed, held: Counter
    private let duration: DurationHistogram
    private let bytes: Counter
    private let sessions: Gauge
    private let loginFailures: [ProxyMetrics.LoginFailureResult: Counter]
    private let pushbacks: [ProxyMetrics.PushbackKind: Counter]
    private let reloads: [ProxyMetrics.ConfigReloadResult: Counter]
    private let idle, busy, connectionsMax: Gauge
    private let accounts: [ProxyMetrics.AccountState: Gauge]
    private let fleet: FleetMetricSeries
    /// `--metrics-per-account`: those series resolve through the registry on each message
    /// (its lock, not a global one), as there can be thousands of them.
    private let perAccount: Bool

    /// `tokenProviders`: the provider names whose refresh series exist from the start.
    public init(registry: PrometheusCollectorRegistry, tokenProviders: [String] = [], perAccount: Bool = false) {
        self.registry = registry
        self.perAccount = perAccount
        self.fleet = FleetMetricSeries(registry: registry)
        func counter(_ name: String, _ labels: [(String, String)] = []) -> Counter {
            registry.makeCounter(descriptor: Self.descriptor(name), labels: labels)
        }
        func gauge(_ name: String, _ labels: [(String, String)] = []) -> Gauge {
            registry.makeGauge(descriptor: Self.descriptor(name), labels: labels)
        }
        func byCase<Key: RawRepresentable & CaseIterable & Hashable, Value>(
            _ make: (String) -> Value
        ) -> [Key: Value] where Key.RawValue == String {
            Dictionary(uniqueKeysWithValues: Key.allCases.map { ($0, make($0.rawValue)) })
        }
        func messages(_ result: ProxyMetrics.MessageResult) -> Counter {
            counter(ProxyMetrics.messagesTotal, [("result", result.rawValue)])
        }
        (relayed, rejected, failed, held) = (messages(.relayed), messages(.rejected), messages(.failed), messages(.held))
        duration = registry.makeDurationHistogram(descriptor: Self.descriptor(ProxyMetrics.relayDurationSeconds), labels: [],
                                                  buckets: ProxyMetrics.relayDurationBuckets)
        bytes = counter(ProxyMetrics.relayedBytesTotal)
        sessions = gauge(ProxyMetrics.clientSessionsActive)
        loginFailures = byCase { counter(ProxyMetrics.loginFailuresTotal, [("result", $0)]) }
        pushbacks = byCase { counter(ProxyMetrics.providerPushbacksTotal, [("kind", $0)]) }
        reloads = byCase { counter(ProxyMetrics.configReloadsTotal, [("result", $0)]) }
        let state = ProxyMetrics.UpstreamConnectionState.self
        idle = gauge(ProxyMetrics.upstreamConnections, [("state", state.idle.rawValue)])
        busy = gauge(ProxyMetrics.upstreamConnections, [("state", state.busy.rawValue)])
        connectionsMax = gauge(ProxyMetrics.upstreamConnectionsMax)
        accounts = byCase { gauge(ProxyMetrics.accounts, [("state", $0)]) }
        for provider in tokenProviders {
            for result in ProxyMetrics.TokenRefreshResult.allCases { _ = Self.tokenRefreshes(provider, result, in: registry) }
        }
        gauge(ProxyMetrics.buildInfo, [("version", BuildInfo.version), ("commit", BuildInfo.commit)]).set(to: 1)
    }

    /// Help text stays empty: the registry traps when one name is registered with two texts.
    private static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: "")
    }

    public func messageEnded(_ result: ProxyMetrics.MessageResult, accountID: String?, duration: Duration, bytes: Int) {
        counter(for: result).increment()
        self.duration.record(duration)
        if result == .relayed, bytes > 0 { self.bytes.increment(by: Int64(bytes)) }
        if perAccount, let accountID { countForAccount(accountID, result) }
    }

    public func messageHeld(accountID: String) {
        held.increment()
        if perAccount { countForAccount(accountID, .held) }
    }

    private func counter(for result: ProxyMetrics.MessageResult) -> Counter {
        switch result {
        case .relayed: relayed
        case .rejected: rejected
        case .failed: failed
        case .held: held
        }
    }

    private func countForAccount(_ accountID: String, _ result: ProxyMetrics.MessageResult) {
        registry.makeCounter(descriptor: Self.descriptor(ProxyMetrics.accountMessagesTotal),
                             labels: [("account", accountID), ("result", result.rawValue)]).increment()
    }

    public func loginFailed(_ result: ProxyMetrics.LoginFailureResult) {
        loginFailures[result]?.increment()
    }

    public func clientSessionOpened() {
        sessions.increment()
    }

    public func clientSessionClosed() {
        sessions.decrement()
    }

    public func providerPushback(_ kind: ProxyMetrics.PushbackKind) {
        pushbacks[kind]?.increment()
    }

    /// Looked up on each refresh: refreshes are rare, and the provider label is open-ended.
    public func tokenRefreshed(provider: String, _ result: ProxyMetrics.TokenRefreshResult) {
        Self.tokenRefreshes(provider, result, in: registry).increment()
    }

    private static func tokenRefreshes(_ provider: String, _ result: ProxyMetrics.TokenRefreshResult,
                                       in registry: PrometheusCollectorRegistry) -> Counter {
        registry.makeCounter(descriptor: descriptor(ProxyMetrics.tokenRefreshesTotal),
                             labels: [("provider", provider), ("result", result.rawValue)])
    }

    public func configReloaded(_ result: ProxyMetrics.ConfigReloadResult) {
        reloads[result]?.increment()
    }

    public func setUpstreamConnections(idle: Int, busy: Int, max: Int) {
        self.idle.set(to: Double(idle))
        self.busy.set(to: Double(busy))
        connectionsMax.set(to: Double(max))
    }

    public func setAccounts(_ counts: [ProxyMetrics.AccountState: Int]) {
        for (state, gauge) in accounts { gauge.set(to: Double(counts[state] ?? 0)) }
    }

    public func setFleet(_ snapshot: FleetMetricsSnapshot) {
        fleet.update(snapshot)
    }
}
