import Prometheus
import Testing
@testable import Ops

@Suite struct ProxyMetricsTests {
    @Test func bootstrapIsIdempotent() {
        #expect(MetricsSetup.bootstrap() === MetricsSetup.bootstrap())
    }

    @Test func fixedSeriesExistBeforeAnyEvent() {
        let text = MetricsSetup.bootstrap().emitToString()
        for result in ["relayed", "rejected", "failed", "held"] {
            #expect(text.contains(#"xoauth2_proxy_messages_total{result="\#(result)"} "#))
        }
        for state in ["ok", "credentials_failed", "paused", "breaker_open"] {
            #expect(text.contains(#"xoauth2_proxy_accounts{state="\#(state)"} "#))
        }
        #expect(text.contains("# TYPE xoauth2_proxy_relay_duration_seconds histogram\n"))
        #expect(text.contains("# TYPE xoauth2_proxy_client_sessions_active gauge\n"))
        #expect(text.contains(#"xoauth2_proxy_build_info{version="\#(BuildInfo.version)",commit="\#(BuildInfo.commit)"} 1"#))
        #expect(ExpositionFormat.invalidLines(text).isEmpty)
    }

    /// Alerts on rejected refreshes and the dashboard need the series before the first refresh.
    @Test func tokenRefreshSeriesExistPerProviderBeforeAnyRefresh() {
        // Bootstrap first: a series made before it stays bound to swift-metrics' no-op backend.
        let registry = MetricsSetup.bootstrap()
        _ = PrometheusRelayMetrics(registry: registry, tokenProviders: ["registered-provider"])
        let text = registry.emitToString()
        for result in ["ok", "failed", "rejected"] {
            #expect(text.contains(#"xoauth2_proxy_token_refreshes_total{provider="registered-provider",result="\#(result)"} 0"#))
        }
        #expect(text.contains("# TYPE xoauth2_proxy_upstream_connections_max gauge\n"))
    }

    @Test func eventsRecordUnderTheirNames() throws {
        let registry = MetricsSetup.bootstrap()
        let metrics = PrometheusRelayMetrics(registry: registry)
        let heldBefore = try value(of: #"xoauth2_proxy_messages_total{result="held"}"#, in: registry)
        metrics.messageHeld(accountID: "ops")
        metrics.messageHeld(accountID: "ops")
        #expect(try value(of: #"xoauth2_proxy_messages_total{result="held"}"#, in: registry) == heldBefore + 2)

        metrics.tokenRefreshed(provider: "outlook", .rejected)
        #expect(try value(of: #"xoauth2_proxy_token_refreshes_total{provider="outlook",result="rejected"}"#, in: registry) >= 1)

        metrics.setAccounts([.ok: 3, .paused: 1])
        #expect(try value(of: #"xoauth2_proxy_accounts{state="ok"}"#, in: registry) == 3)
        #expect(try value(of: #"xoauth2_proxy_accounts{state="breaker_open"}"#, in: registry) == 0)

        metrics.configReloaded(.invalid)
        #expect(try value(of: #"xoauth2_proxy_config_reloads_total{result="invalid"}"#, in: registry) >= 1)
    }

    @Test func relayDurationsUseBucketsFromOneMillisecondToOneMinute() throws {
        let registry = MetricsSetup.bootstrap()
        let countBefore = try value(of: "xoauth2_proxy_relay_duration_seconds_count", in: registry)
        PrometheusRelayMetrics(registry: registry).messageEnded(.failed, accountID: nil, duration: .milliseconds(1500), bytes: 0)
        let text = registry.emitToString()
        #expect(text.contains(#"xoauth2_proxy_relay_duration_seconds_bucket{le="0.001"} "#))
        #expect(text.contains(#"xoauth2_proxy_relay_duration_seconds_bucket{le="60.0"} "#))
        #expect(try value(of: "xoauth2_proxy_relay_duration_seconds_count", in: registry) >= countBefore + 1)
    }

    /// The sample value of one series in the current exposition text.
    private func value(of series: String, in registry: PrometheusCollectorRegistry) throws -> Double {
        try #require(ExpositionFormat.value(of: series, in: registry.emitToString()), "\(series)")
    }
}
