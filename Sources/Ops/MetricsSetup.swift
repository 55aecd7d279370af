import Metrics
import Prometheus

public enum MetricsSetup {
    /// Creates the process's Prometheus registry, with the relay's fixed series at zero, and
    /// installs it as the swift-metrics backend for whatever library reports through it. The
    /// relay itself records through a `PrometheusRelayMetrics` built on this registry.
    ///
    /// swift-metrics traps on a second `MetricsSystem.bootstrap`, so the work sits in a lazily
    /// initialised static (run once, thread-safe); every later call returns the same registry.
    /// Nothing else in the process, tests included, may bootstrap `MetricsSystem` directly.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        shared
    }

    private static let shared: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // The library's default buckets stop at 10 s; a relay through a slow provider can take a minute.
        factory.durationHistogramBuckets[ProxyMetrics.relayDurationSeconds] = ProxyMetrics.relayDurationBuckets
        MetricsSystem.bootstrap(factory)
        _ = PrometheusRelayMetrics(registry: registry)
        return registry
    }()
}
