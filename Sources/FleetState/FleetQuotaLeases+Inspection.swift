import Foundation
import PostgresNIO

/// A window as the database sees it at an instant: for tests, `check`, and metrics.
public struct QuotaWindowUsage: Sendable, Hashable {
    public var limit: Int
    /// What counts in the window: spent, or still held by a replica.
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
    /// Buckets that stopped counting long enough ago that no replica's clock still counts them.
    public var endedBuckets: Int
}

extension FleetQuotaLeases {
    /// How long after it stops counting a bucket's row is kept. Deleting a bucket some replica
    /// still counts (its clock is behind) would hand that replica its amount again; an hour is
    /// far beyond any clock skew NTP leaves.
    public static let endedBucketRetention: Int64 = 3600

    public func usage(account: String, window: QuotaWindow, now: Date, timeout: Duration? = nil) async throws(FleetStateError) -> QuotaWindowUsage? {
        let oldest = window.oldestCountedBucket(at: now), kind = window.rawValue
        let logger = database.logger
        return try await database.call("quota usage", timeout: timeout) { client -> QuotaWindowUsage? in
            let rows = try await client.query("""
                SELECT a.quota_limit,
                    (SELECT COALESCE(sum(b.granted), 0) FROM fleet_quota_buckets b
                     WHERE b.account = a.account AND b.window_kind = a.window_kind AND b.bucket_start >= \(oldest))::bigint,
                    (SELECT count(*) FROM fleet_quota_leases l WHERE l.account = a.account AND l.window_kind = a.window_kind),
                    (SELECT COALESCE(sum(l.amount), 0) FROM fleet_quota_leases l
                     WHERE l.account = a.account AND l.window_kind = a.window_kind)::bigint
                FROM fleet_quota_accounts a
                WHERE a.account = \(account) AND a.window_kind = \(kind)
                """, logger: logger)
            var usage: QuotaWindowUsage?
            for try await (limit, granted, leases, amount) in rows.decode((Int, Int, Int, Int).self) {
                usage = QuotaWindowUsage(limit: limit, granted: granted, outstandingLeases: leases, outstandingAmount: amount)
            }
            return usage
        }
    }

    /// Removes leases that expired before `now` without being given back (their amounts stay
    /// spent) and buckets that stopped counting more than `endedBucketRetention` ago. Any
    /// replica may run it; running it twice or concurrently is harmless.
    public func prune(now: Date, timeout: Duration? = nil) async throws(FleetStateError) -> QuotaPruning {
        let nowMs = Self.milliseconds(now)
        let logger = database.logger
        return try await database.call("quota prune", timeout: timeout) { client in
            var pruning = QuotaPruning(expiredLeases: 0, expiredAmount: 0, endedBuckets: 0)
            let leases = try await client.query("""
                WITH gone AS (DELETE FROM fleet_quota_leases WHERE expires_at_ms <= \(nowMs) RETURNING amount)
                SELECT count(*), COALESCE(sum(amount), 0)::bigint FROM gone
                """, logger: logger)
            for try await (count, amount) in leases.decode((Int, Int).self) {
                pruning.expiredLeases = count
                pruning.expiredAmount = amount
            }
            for window in QuotaWindow.allCases {
                let before = window.oldestCountedBucket(at: now) - Self.endedBucketRetention
                let buckets = try await client.query("""
                    WITH gone AS (
                        DELETE FROM fleet_quota_buckets b
                        WHERE b.window_kind = \(window.rawValue) AND b.bucket_start < \(before)
                        RETURNING 1
                    )
                    SELECT count(*) FROM gone
                    """, logger: logger)
                for try await count in buckets.decode(Int.self) { pruning.endedBuckets += count }
            }
            return pruning
        }
    }
}
