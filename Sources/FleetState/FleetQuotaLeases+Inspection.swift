import Foundation
import PostgresNIO

/// A window as the database sees it: for tests, `check`, and metrics.
public struct QuotaWindowUsage: Sendable, Hashable {
    public var limit: Int
    /// Leased out and not given back: spent, or still held by a replica.
    public var granted: Int
    public var outstandingLeases: Int
    public var outstandingAmount: Int

    public init(limit: Int, granted: Int, outstandingLeases: Int, outstandingAmount: Int) {
        self.limit = limit
        self.granted = granted
        self.outstandingLeases = outstandingLeases
        self.outstandingAmount = outstandingAmount
    }
}

/// What `prune` removed.
public struct QuotaPruning: Sendable, Hashable {
    /// Expired leases nobody gave back; their amounts stay counted as spent.
    public var expiredLeases: Int
    public var expiredAmount: Int
    /// Rows of windows that ended long enough ago that no replica's clock is still in them.
    public var endedWindows: Int
}

extension FleetQuotaLeases {
    /// How long after its end a window's row is kept. Deleting the row of a window some replica
    /// still thinks current (its clock is behind) would hand that replica the whole limit again;
    /// an hour is far beyond any clock skew NTP leaves.
    public static let endedWindowRetention: TimeInterval = 3600

    public func usage(account: String, window: QuotaWindow, now: Date, timeout: Duration? = nil) async throws(FleetStateError) -> QuotaWindowUsage? {
        let start = window.start(containing: now), kind = window.rawValue
        let logger = database.logger
        return try await database.call("quota usage", timeout: timeout) { client -> QuotaWindowUsage? in
            let rows = try await client.query("""
                SELECT w.quota_limit, w.granted, count(l.id), COALESCE(sum(l.amount), 0)::bigint
                FROM fleet_quota_windows w
                LEFT JOIN fleet_quota_leases l
                    ON l.account = w.account AND l.window_kind = w.window_kind AND l.window_start = w.window_start
                WHERE w.account = \(account) AND w.window_kind = \(kind) AND w.window_start = \(start)
                GROUP BY w.quota_limit, w.granted
                """, logger: logger)
            var usage: QuotaWindowUsage?
            for try await (limit, granted, leases, amount) in rows.decode((Int, Int, Int, Int).self) {
                usage = QuotaWindowUsage(limit: limit, granted: granted, outstandingLeases: leases, outstandingAmount: amount)
            }
            return usage
        }
    }

    /// Removes leases that expired before `now` without being given back (their amounts stay
    /// spent) and windows that ended more than `endedWindowRetention` ago. Any replica may run
    /// it; running it twice or concurrently is harmless.
    public func prune(now: Date, timeout: Duration? = nil) async throws(FleetStateError) -> QuotaPruning {
        let nowMs = Int(now.timeIntervalSince1970 * 1000)
        let nowSeconds = Int(now.timeIntervalSince1970 - Self.endedWindowRetention)
        let logger = database.logger
        return try await database.call("quota prune", timeout: timeout) { client in
            var pruning = QuotaPruning(expiredLeases: 0, expiredAmount: 0, endedWindows: 0)
            let leases = try await client.query("""
                WITH gone AS (DELETE FROM fleet_quota_leases WHERE expires_at_ms <= \(nowMs) RETURNING amount)
                SELECT count(*), COALESCE(sum(amount), 0)::bigint FROM gone
                """, logger: logger)
            for try await (count, amount) in leases.decode((Int, Int).self) {
                pruning.expiredLeases = count
                pruning.expiredAmount = amount
            }
            for window in QuotaWindow.allCases {
                let windows = try await client.query("""
                    WITH gone AS (
                        DELETE FROM fleet_quota_windows
                        WHERE window_kind = \(window.rawValue) AND window_start + \(Int(window.seconds)) <= \(nowSeconds)
                        RETURNING 1
                    )
                    SELECT count(*) FROM gone
                    """, logger: logger)
                for try await count in windows.decode(Int.self) { pruning.endedWindows += count }
            }
            return pruning
        }
    }
}
