/// The relay's metric names, label values and buckets; `PrometheusRelayMetrics` records them.
///
/// Label values come only from the enums below (plus the configured provider names), so the
/// series count stays bounded. Keep every series of one name in one place: swift-prometheus
/// traps if one name is used both with and without labels, or as two metric types, and treats
/// label order as part of the series.
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
}
