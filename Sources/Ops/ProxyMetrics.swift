import Metrics
import NIOConcurrencyHelpers

/// The relay's metric names and one-line recorders.
///
/// Label values come only from the enums below (plus the configured provider names), so the
/// series count stays bounded. The per-message series are resolved once, when
/// `MetricsSetup.bootstrap()` binds them (a handle made before bootstrap would stay bound to the
/// no-op backend forever; resolving on every call cost a registry lookup per message). The rest
/// resolve through swift-metrics on every call.
///
/// Always record through these helpers: swift-prometheus traps if one name is used both with
/// and without labels, or as two metric types, and treats label order as part of the series.
public enum ProxyMetrics {
    public static let messagesTotal = "xoauth2_proxy_messages_total"
    public static let relayDurationSeconds = "xoauth2_proxy_relay_duration_seconds"
    public static let clientSessionsActive = "xoauth2_proxy_client_sessions_active"
    public static let upstreamConnections = "xoauth2_proxy_upstream_connections"
    /// The sum of the pools' caps now, so busy ÷ max is how full the pools are.
    public static let upstreamConnectionsMax = "xoauth2_proxy_upstream_connections_max"
    public static let tokenRefreshesTotal = "xoauth2_proxy_token_refreshes_total"
    public static let configReloadsTotal = "xoauth2_proxy_config_reloads_total"
    public static let accounts = "xoauth2_proxy_accounts"
    public static let relayedBytesTotal = "xoauth2_proxy_relayed_bytes_total"
    public static let providerPushbacksTotal = "xoauth2_proxy_provider_pushbacks_total"
    /// Only with `--metrics-per-account`: a separate family, so the bounded one keeps its labels.
    public static let accountMessagesTotal = "xoauth2_proxy_account_messages_total"
    /// Failed logins (`result="failed"`) and logins refused unchecked over the failure budget (`"refused"`).
    public static let loginFailuresTotal = "xoauth2_proxy_login_failures_total"
    /// Always 1; the labels say which build is running (for "which version is where" queries).
    public static let buildInfo = "xoauth2_proxy_build_info"

    /// The series every message touches, resolved once after bootstrap.
    private final class MessageSeries: Sendable {
        let results: [MessageResult: Counter]
        let duration: Timer
        let bytes: Counter

        init() {
            results = Dictionary(uniqueKeysWithValues: MessageResult.allCases.map {
                ($0, Counter(label: ProxyMetrics.messagesTotal, dimensions: [("result", $0.rawValue)]))
            })
            duration = Timer(label: ProxyMetrics.relayDurationSeconds)
            bytes = Counter(label: ProxyMetrics.relayedBytesTotal)
        }
    }

    private static let bound = NIOLockedValueBox<(series: MessageSeries?, perAccount: Bool)>((nil, false))

    /// Called by `MetricsSetup.bootstrap()` once the backend is in place.
    static func bindMessageSeries() {
        let series = MessageSeries()
        bound.withLockedValue { $0.series = series }
    }

    /// Opt-in: one series per account and result. With thousands of accounts that is thousands
    /// of series, which is why it is off by default.
    public static func enablePerAccountSeries() {
        bound.withLockedValue { $0.perAccount = true }
    }

    /// 1 ms to 60 s: a local dry run up to a slow provider accepting a large message.
    public static let relayDurationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
        .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    public enum MessageResult: String, Sendable, CaseIterable { case relayed, rejected, failed, held }
    public enum UpstreamConnectionState: String, Sendable, CaseIterable { case idle, busy }
    public enum TokenRefreshResult: String, Sendable, CaseIterable { case ok, failed, rejected }
    public enum ConfigReloadResult: String, Sendable, CaseIterable { case ok, invalid }
    public enum LoginFailureResult: String, Sendable, CaseIterable { case failed, refused }
    public enum PushbackKind: String, Sendable, CaseIterable { case quota, connectionLimit = "connection_limit", slowDown = "slow_down" }
    public enum AccountState: String, Sendable, CaseIterable {
        case ok, credentialsFailed = "credentials_failed", paused, breakerOpen = "breaker_open"
    }

    public static func recordMessage(_ result: MessageResult, accountID: String? = nil) {
        let (series, perAccount) = bound.withLockedValue { $0 }
        if let counter = series?.results[result] {
            counter.increment()
        } else {
            Counter(label: messagesTotal, dimensions: [("result", result.rawValue)]).increment()
        }
        if let accountID, perAccount {
            Counter(label: accountMessagesTotal, dimensions: [("account", accountID), ("result", result.rawValue)]).increment()
        }
    }

    /// The provider told an account to stop or slow down (quota spent, too many connections, slow down).
    public static func recordPushback(_ kind: PushbackKind) {
        Counter(label: providerPushbacksTotal, dimensions: [("kind", kind.rawValue)]).increment()
    }

    /// Time from DATA received to the upstream's final reply (whatever the result).
    public static func recordRelayDuration(_ duration: Duration) {
        (bound.withLockedValue { $0.series }?.duration ?? Timer(label: relayDurationSeconds)).record(duration: duration)
    }

    public static func addRelayedBytes(_ count: Int) {
        guard count > 0 else { return }
        (bound.withLockedValue { $0.series }?.bytes ?? Counter(label: relayedBytesTotal)).increment(by: count)
    }

    public static func clientSessionOpened() {
        Meter(label: clientSessionsActive).increment()
    }

    public static func clientSessionClosed() {
        Meter(label: clientSessionsActive).decrement()
    }

    public static func setUpstreamConnections(idle: Int, busy: Int, max: Int) {
        Meter(label: upstreamConnections, dimensions: [("state", UpstreamConnectionState.idle.rawValue)]).set(idle)
        Meter(label: upstreamConnections, dimensions: [("state", UpstreamConnectionState.busy.rawValue)]).set(busy)
        Meter(label: upstreamConnectionsMax).set(max)
    }

    /// `provider` is the configured provider name (gmail, outlook, custom), never a URL or account.
    public static func recordTokenRefresh(provider: String, _ result: TokenRefreshResult) {
        Counter(label: tokenRefreshesTotal, dimensions: [("provider", provider), ("result", result.rawValue)]).increment()
    }

    /// Every provider's refresh series at zero from the start, so the alert on rejected refreshes
    /// and the dashboard see them before the first refresh (tokens are fetched lazily).
    public static func registerTokenRefreshSeries(providers: [String]) {
        for provider in providers {
            for result in TokenRefreshResult.allCases {
                _ = Counter(label: tokenRefreshesTotal, dimensions: [("provider", provider), ("result", result.rawValue)])
            }
        }
    }

    public static func recordLoginFailure(_ result: LoginFailureResult) {
        Counter(label: loginFailuresTotal, dimensions: [("result", result.rawValue)]).increment()
    }

    public static func recordConfigReload(_ result: ConfigReloadResult) {
        Counter(label: configReloadsTotal, dimensions: [("result", result.rawValue)]).increment()
    }

    /// Sets every state, absent ones to 0, so a state that empties does not keep its last count.
    public static func setAccounts(_ counts: [AccountState: Int]) {
        for state in AccountState.allCases {
            Meter(label: accounts, dimensions: [("state", state.rawValue)]).set(counts[state] ?? 0)
        }
    }

    /// Creates the fixed-label series at zero so dashboards and `rate()` see them before the first event.
    static func registerFixedSeries() {
        for result in MessageResult.allCases {
            _ = Counter(label: messagesTotal, dimensions: [("result", result.rawValue)])
        }
        for kind in PushbackKind.allCases {
            _ = Counter(label: providerPushbacksTotal, dimensions: [("kind", kind.rawValue)])
        }
        for result in ConfigReloadResult.allCases {
            _ = Counter(label: configReloadsTotal, dimensions: [("result", result.rawValue)])
        }
        for result in LoginFailureResult.allCases {
            _ = Counter(label: loginFailuresTotal, dimensions: [("result", result.rawValue)])
        }
        _ = Counter(label: relayedBytesTotal)
        _ = Timer(label: relayDurationSeconds)
        _ = Meter(label: clientSessionsActive)
        setUpstreamConnections(idle: 0, busy: 0, max: 0)
        setAccounts([:])
        Meter(label: buildInfo, dimensions: [("version", BuildInfo.version), ("commit", BuildInfo.commit)]).set(1)
    }
}
