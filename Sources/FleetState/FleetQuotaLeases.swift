import Foundation
import PostgresNIO

/// The fleet's shared per-account quota windows, handed out to replicas in leased blocks.
///
/// Why the fleet never sends more than a window's limit: (1) the window row's `granted` grows
/// only in the single guarded statement of `lease`, which adds at most `quota_limit - granted`,
/// so `granted <= limit`; (2) it shrinks only when a lease is given back, by at most that lease's
/// amount, and the lease row is deleted in the same statement, so a lease is given back once;
/// (3) a replica sends only what it spent from a lease it holds (`QuotaLeaseBalance`), stops
/// spending at the lease's expiry, and gives back only what it did not spend. So what the fleet
/// sent in a window is at most what is leased out and not given back, which is at most the limit.
///
/// A lease that expires without being given back (its replica died, or could not reach the
/// database) counts as spent: nobody can know how much of it the replica used before it stopped,
/// and reclaiming it could let the fleet exceed the limit. That is the price of a dead replica:
/// its outstanding lease, for the rest of the window (`QuotaLeaseRequest.maximumBlock` caps it).
/// `prune` removes such leases from the table, not from the window's count.
///
/// Time is the caller's (`now`), so every replica's wall clock decides its own windows and the
/// tests run without sleeping.
public struct FleetQuotaLeases: Sendable {
    public let database: FleetDatabase

    public init(database: FleetDatabase) {
        self.database = database
    }

    /// A block of what is left in the window holding `now`: about 1/`fleetSizeHint` of it, at
    /// least `atLeast` and at most `maximumBlock` or what is left. Nil when nothing is left.
    public func lease(_ request: QuotaLeaseRequest, now: Date, timeout: Duration? = nil) async throws(FleetStateError) -> QuotaLease? {
        guard request.limit > 0 else { return nil }
        let limit = request.limit, hint = max(1, request.fleetSizeHint)
        let atLeast = max(1, request.atLeast), cap = max(1, request.maximumBlock)
        let start = request.window.start(containing: now)
        let usableUntil = min(now.addingTimeInterval(Self.seconds(request.duration)), request.window.end(ofWindowStartingAt: start))
        let id = UUID()
        let account = request.account, kind = request.window.rawValue, replica = database.configuration.replicaID
        let expiresAtMs = Int(usableUntil.timeIntervalSince1970 * 1000)
        let logger = database.logger
        let giveBackLate: @Sendable (QuotaLease?) async -> Void = { [self] late in
            guard let late else { return }
            // Nobody holds it: give all of it back, with the server's own bound as the wait.
            _ = try? await giveBack(leaseID: late.id, unused: late.amount, timeout: database.configuration.statementTimeout)
        }
        return try await database.call("quota lease", timeout: timeout, abandoned: giveBackLate) { client -> QuotaLease? in
            // One statement: the guarded increment (ON CONFLICT locks the row, so concurrent
            // grants queue on it and each sees the last one's total) and the lease row.
            let rows = try await client.query("""
                WITH w AS (
                    INSERT INTO fleet_quota_windows AS w (account, window_kind, window_start, quota_limit, granted, last_grant)
                    VALUES (\(account), \(kind), \(start), \(limit),
                            LEAST(\(limit), \(cap), GREATEST(\(atLeast), (\(limit) + \(hint) - 1) / \(hint))),
                            LEAST(\(limit), \(cap), GREATEST(\(atLeast), (\(limit) + \(hint) - 1) / \(hint))))
                    ON CONFLICT (account, window_kind, window_start) DO UPDATE SET
                        granted = w.granted + LEAST(EXCLUDED.quota_limit - w.granted, \(cap),
                            GREATEST(\(atLeast), (EXCLUDED.quota_limit - w.granted + \(hint) - 1) / \(hint))),
                        last_grant = LEAST(EXCLUDED.quota_limit - w.granted, \(cap),
                            GREATEST(\(atLeast), (EXCLUDED.quota_limit - w.granted + \(hint) - 1) / \(hint))),
                        quota_limit = EXCLUDED.quota_limit
                    WHERE w.granted < EXCLUDED.quota_limit
                    RETURNING w.last_grant, w.granted
                ), l AS (
                    INSERT INTO fleet_quota_leases (id, account, window_kind, window_start, replica, amount, expires_at_ms)
                    SELECT \(id), \(account), \(kind), \(start), \(replica), w.last_grant, \(expiresAtMs) FROM w
                )
                SELECT last_grant, granted FROM w
                """, logger: logger)
            var lease: QuotaLease?
            for try await (amount, granted) in rows.decode((Int, Int).self) {
                lease = QuotaLease(id: id, account: account, window: request.window, windowStart: start,
                                   amount: amount, usableUntil: usableUntil, fleetGranted: granted)
            }
            return lease
        }
    }

    /// Ends a lease: its `unused` part goes back to the window for the other replicas. Call it
    /// only once nothing more will be spent from the lease. False when the lease was unknown:
    /// already given back, or pruned after expiring (then it stays counted as spent).
    @discardableResult
    public func giveBack(_ balance: QuotaLeaseBalance, timeout: Duration? = nil) async throws(FleetStateError) -> Bool {
        try await giveBack(leaseID: balance.lease.id, unused: balance.unused, timeout: timeout)
    }

    func giveBack(leaseID: UUID, unused: Int, timeout: Duration?) async throws(FleetStateError) -> Bool {
        let unused = max(0, unused)
        let logger = database.logger
        return try await database.call("quota lease give-back", timeout: timeout) { client in
            let rows = try await client.query("""
                WITH l AS (
                    DELETE FROM fleet_quota_leases WHERE id = \(leaseID)
                    RETURNING account, window_kind, window_start, amount
                ), w AS (
                    UPDATE fleet_quota_windows AS w SET granted = w.granted - LEAST(\(unused), l.amount)
                    FROM l WHERE w.account = l.account AND w.window_kind = l.window_kind AND w.window_start = l.window_start
                )
                SELECT count(*) FROM l
                """, logger: logger)
            var found = false
            for try await count in rows.decode(Int.self) { found = count > 0 }
            return found
        }
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
