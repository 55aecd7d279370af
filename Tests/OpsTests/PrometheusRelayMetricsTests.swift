import Prometheus
import Testing
@testable import Ops

/// The Prometheus-backed recorder on a registry of its own, so every count is exact.
@Suite struct PrometheusRelayMetricsTests {
    @Test func aRelayedMessageCountsItsResultDurationAndBytes() {
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusRelayMetrics(registry: registry)
        metrics.messageEnded(.relayed, accountID: "ops", duration: .milliseconds(200), bytes: 1234)
        let text = registry.emitToString()
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_messages_total{result="relayed"}"#, in: text) == 1)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_messages_total{result="failed"}"#, in: text) == 0)
        #expect(ExpositionFormat.value(of: "xoauth2_proxy_relayed_bytes_total", in: text) == 1234)
        #expect(ExpositionFormat.value(of: "xoauth2_proxy_relay_duration_seconds_count", in: text) == 1)
        #expect(ExpositionFormat.value(of: "xoauth2_proxy_relay_duration_seconds_sum", in: text) == 0.2)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_relay_duration_seconds_bucket{le="0.1"}"#, in: text) == 0)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_relay_duration_seconds_bucket{le="0.25"}"#, in: text) == 1)
        // Opt-in only: without it, no series names an account.
        #expect(!text.contains(ProxyMetrics.accountMessagesTotal))
        #expect(ExpositionFormat.invalidLines(text).isEmpty)
    }

    /// Only a replica with a fleet database exports the fleet's series; the quota's totals
    /// advance the counters by what changed since the last scrape.
    @Test func fleetSeriesAppearAtTheFirstScrapeAndAdvanceByTheDifference() {
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusRelayMetrics(registry: registry)
        #expect(!registry.emitToString().contains("xoauth2_proxy_fleet_"))
        metrics.setFleet(FleetMetricsSnapshot(connected: true, spentFromLeases: 10, waitedForLease: 1, admittedOnLocalShare: 0,
                                              refused: 2, databaseCalls: 3, databaseCallFailures: 0, pushbacksWritten: 1))
        metrics.setFleet(FleetMetricsSnapshot(connected: false, spentFromLeases: 14, waitedForLease: 1, admittedOnLocalShare: 5,
                                              refused: 2, databaseCalls: 5, databaseCallFailures: 1, pushbacksWritten: 1,
                                              pushbacksApplied: 3))
        let text = registry.emitToString()
        #expect(ExpositionFormat.value(of: "xoauth2_proxy_fleet_database_up", in: text) == 0)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_fleet_quota_spends_total{source="lease"}"#, in: text) == 14)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_fleet_quota_spends_total{source="local_share"}"#, in: text) == 5)
        #expect(ExpositionFormat.value(of: "xoauth2_proxy_fleet_lease_misses_total", in: text) == 1)
        #expect(ExpositionFormat.value(of: "xoauth2_proxy_fleet_quota_refused_total", in: text) == 2)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_fleet_database_calls_total{result="ok"}"#, in: text) == 4)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_fleet_database_calls_total{result="failed"}"#, in: text) == 1)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_fleet_pushbacks_total{event="written"}"#, in: text) == 1)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_fleet_pushbacks_total{event="applied"}"#, in: text) == 3)
        #expect(ExpositionFormat.invalidLines(text).isEmpty)
    }

    /// The bytes of a message the provider did not take were not relayed.
    @Test func aRefusedMessageCountsNoBytes() {
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusRelayMetrics(registry: registry)
        metrics.messageEnded(.rejected, accountID: nil, duration: .milliseconds(5), bytes: 1234)
        metrics.messageEnded(.failed, accountID: nil, duration: .milliseconds(5), bytes: 99)
        let text = registry.emitToString()
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_messages_total{result="rejected"}"#, in: text) == 1)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_messages_total{result="failed"}"#, in: text) == 1)
        #expect(ExpositionFormat.value(of: "xoauth2_proxy_relayed_bytes_total", in: text) == 0)
        #expect(ExpositionFormat.value(of: "xoauth2_proxy_relay_duration_seconds_count", in: text) == 2)
    }

    @Test func perAccountSeriesAreASeparateFamilyWithTheAccountFirst() {
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusRelayMetrics(registry: registry, perAccount: true)
        metrics.messageEnded(.relayed, accountID: "ops", duration: .milliseconds(1), bytes: 1)
        metrics.messageEnded(.relayed, accountID: "ops", duration: .milliseconds(1), bytes: 1)
        metrics.messageHeld(accountID: "sales")
        let text = registry.emitToString()
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_account_messages_total{account="ops",result="relayed"}"#, in: text) == 2)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_account_messages_total{account="sales",result="held"}"#, in: text) == 1)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_messages_total{result="held"}"#, in: text) == 1)
        #expect(text.contains("# TYPE xoauth2_proxy_account_messages_total counter\n"))
    }

    @Test func sessionsLoginsPushbacksReloadsAndGauges() {
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusRelayMetrics(registry: registry, tokenProviders: ["gmail"])
        metrics.clientSessionOpened()
        metrics.clientSessionOpened()
        metrics.clientSessionClosed()
        metrics.loginFailed(.failed)
        metrics.loginFailed(.refused)
        metrics.loginFailed(.refused)
        metrics.providerPushback(.connectionLimit)
        metrics.tokenRefreshed(provider: "gmail", .ok)
        metrics.tokenRefreshed(provider: "unknown", .failed)
        metrics.configReloaded(.ok)
        metrics.setUpstreamConnections(idle: 2, busy: 3, max: 10)
        metrics.setAccounts([.ok: 4])
        metrics.setAccounts([.paused: 1])
        let text = registry.emitToString()
        let expected: [(String, Double)] = [
            ("xoauth2_proxy_client_sessions_active", 1),
            (#"xoauth2_proxy_login_failures_total{result="failed"}"#, 1),
            (#"xoauth2_proxy_login_failures_total{result="refused"}"#, 2),
            (#"xoauth2_proxy_provider_pushbacks_total{kind="connection_limit"}"#, 1),
            (#"xoauth2_proxy_provider_pushbacks_total{kind="slow_down"}"#, 0),
            (#"xoauth2_proxy_token_refreshes_total{provider="gmail",result="ok"}"#, 1),
            (#"xoauth2_proxy_token_refreshes_total{provider="gmail",result="rejected"}"#, 0),
            (#"xoauth2_proxy_token_refreshes_total{provider="unknown",result="failed"}"#, 1),
            (#"xoauth2_proxy_config_reloads_total{result="ok"}"#, 1),
            (#"xoauth2_proxy_config_reloads_total{result="invalid"}"#, 0),
            (#"xoauth2_proxy_upstream_connections{state="idle"}"#, 2),
            (#"xoauth2_proxy_upstream_connections{state="busy"}"#, 3),
            ("xoauth2_proxy_upstream_connections_max", 10),
            // A state that emptied reads 0, not its last count.
            (#"xoauth2_proxy_accounts{state="ok"}"#, 0),
            (#"xoauth2_proxy_accounts{state="paused"}"#, 1),
        ]
        for (series, count) in expected {
            #expect(ExpositionFormat.value(of: series, in: text) == count, "\(series)")
        }
        #expect(text.contains("# TYPE xoauth2_proxy_client_sessions_active gauge\n"))
        #expect(text.contains("# TYPE xoauth2_proxy_login_failures_total counter\n"))
        #expect(ExpositionFormat.invalidLines(text).isEmpty)
    }

    /// Series go to the registry given, not a process-wide one: two recorders never share counts.
    @Test func twoRegistriesCountApart() {
        let first = PrometheusCollectorRegistry()
        let second = PrometheusCollectorRegistry()
        PrometheusRelayMetrics(registry: first).messageHeld(accountID: "a")
        _ = PrometheusRelayMetrics(registry: second)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_messages_total{result="held"}"#, in: first.emitToString()) == 1)
        #expect(ExpositionFormat.value(of: #"xoauth2_proxy_messages_total{result="held"}"#, in: second.emitToString()) == 0)
    }
}
