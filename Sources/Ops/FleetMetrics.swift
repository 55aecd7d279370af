import NIOConcurrencyHelpers
import Prometheus

/// The fleet's quota figures since start (`--state-url`), read at scrape time.
public struct FleetMetricsSnapshot: Sendable, Equatable {
    /// Whether leases come from the database now (false: held leases, then the local share).
    public var connected: Bool
    /// Lease hits: per window, a message took from a held lease with no database round trip.
    public var spentFromLeases: Int
    /// Lease misses: a message found no lease and waited (boundedly) for one.
    public var waitedForLease: Int
    /// Per window, a message admitted under the local share, the database being away.
    public var admittedOnLocalShare: Int
    public var refused: Int
    /// Lease and give-back calls; divided by relayed messages, the round trips per message.
    public var databaseCalls: Int
    public var databaseCallFailures: Int
    /// Provider pushbacks this replica wrote for the others, applied from them, and dropped
    /// (its queue for the database was full).
    public var pushbacksWritten: Int
    public var pushbacksApplied: Int
    public var pushbacksDropped: Int

    public init(connected: Bool, spentFromLeases: Int, waitedForLease: Int, admittedOnLocalShare: Int, refused: Int,
                databaseCalls: Int, databaseCallFailures: Int, pushbacksWritten: Int = 0, pushbacksApplied: Int = 0,
                pushbacksDropped: Int = 0) {
        self.connected = connected
        self.spentFromLeases = spentFromLeases
        self.waitedForLease = waitedForLease
        self.admittedOnLocalShare = admittedOnLocalShare
        self.refused = refused
        self.databaseCalls = databaseCalls
        self.databaseCallFailures = databaseCallFailures
        self.pushbacksWritten = pushbacksWritten
        self.pushbacksApplied = pushbacksApplied
        self.pushbacksDropped = pushbacksDropped
    }
}

extension ProxyMetrics {
    public static let fleetDatabaseUp = "xoauth2_proxy_fleet_database_up"
    /// Labelled `source`: `lease` (a hit) or `local_share`.
    public static let fleetQuotaSpendsTotal = "xoauth2_proxy_fleet_quota_spends_total"
    public static let fleetLeaseMissesTotal = "xoauth2_proxy_fleet_lease_misses_total"
    public static let fleetQuotaRefusedTotal = "xoauth2_proxy_fleet_quota_refused_total"
    /// Labelled `result`: `ok` or `failed`.
    public static let fleetDatabaseCallsTotal = "xoauth2_proxy_fleet_database_calls_total"
    /// Labelled `event`: `written`, `applied` or `dropped`.
    public static let fleetPushbacksTotal = "xoauth2_proxy_fleet_pushbacks_total"
}

/// The fleet's series, created at the first scrape of a replica that has a fleet database (a
/// lone replica exports none of them), and advanced by the difference since the last scrape:
/// the figures are totals kept by the quota, the series Prometheus counters.
final class FleetMetricSeries: Sendable {
    private struct Series {
        var up: Gauge
        var fromLeases, onLocalShare, misses, refused, callsOK, callsFailed: Counter
        var pushbacksWritten, pushbacksApplied, pushbacksDropped: Counter
        var last: FleetMetricsSnapshot
    }

    private let registry: PrometheusCollectorRegistry
    private let series = NIOLockedValueBox<Series?>(nil)

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func update(_ snapshot: FleetMetricsSnapshot) {
        series.withLockedValue { current in
            var series = current ?? makeSeries()
            let last = series.last
            series.up.set(to: snapshot.connected ? 1 : 0)
            Self.advance(series.fromLeases, snapshot.spentFromLeases, last.spentFromLeases)
            Self.advance(series.onLocalShare, snapshot.admittedOnLocalShare, last.admittedOnLocalShare)
            Self.advance(series.misses, snapshot.waitedForLease, last.waitedForLease)
            Self.advance(series.refused, snapshot.refused, last.refused)
            Self.advance(series.callsOK, snapshot.databaseCalls - snapshot.databaseCallFailures,
                         last.databaseCalls - last.databaseCallFailures)
            Self.advance(series.callsFailed, snapshot.databaseCallFailures, last.databaseCallFailures)
            Self.advance(series.pushbacksWritten, snapshot.pushbacksWritten, last.pushbacksWritten)
            Self.advance(series.pushbacksApplied, snapshot.pushbacksApplied, last.pushbacksApplied)
            Self.advance(series.pushbacksDropped, snapshot.pushbacksDropped, last.pushbacksDropped)
            series.last = snapshot
            current = series
        }
    }

    private static func advance(_ counter: Counter, _ now: Int, _ before: Int) {
        if now > before { counter.increment(by: Int64(now - before)) }
    }

    private func makeSeries() -> Series {
        func counter(_ name: String, _ labels: [(String, String)] = []) -> Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: ""), labels: labels)
        }
        let up = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: ProxyMetrics.fleetDatabaseUp, unitName: "", helpText: ""),
                                    labels: [])
        return Series(up: up,
                      fromLeases: counter(ProxyMetrics.fleetQuotaSpendsTotal, [("source", "lease")]),
                      onLocalShare: counter(ProxyMetrics.fleetQuotaSpendsTotal, [("source", "local_share")]),
                      misses: counter(ProxyMetrics.fleetLeaseMissesTotal),
                      refused: counter(ProxyMetrics.fleetQuotaRefusedTotal),
                      callsOK: counter(ProxyMetrics.fleetDatabaseCallsTotal, [("result", "ok")]),
                      callsFailed: counter(ProxyMetrics.fleetDatabaseCallsTotal, [("result", "failed")]),
                      pushbacksWritten: counter(ProxyMetrics.fleetPushbacksTotal, [("event", "written")]),
                      pushbacksApplied: counter(ProxyMetrics.fleetPushbacksTotal, [("event", "applied")]),
                      pushbacksDropped: counter(ProxyMetrics.fleetPushbacksTotal, [("event", "dropped")]),
                      last: FleetMetricsSnapshot(connected: false, spentFromLeases: 0, waitedForLease: 0, admittedOnLocalShare: 0,
                                                 refused: 0, databaseCalls: 0, databaseCallFailures: 0))
    }
}
