import Foundation
import PostgresNIO

/// The fleet's shared per-account rolling quota windows, handed out to replicas in leased blocks.
///
/// A grant is recorded in the bucket of its lease's expiry, and what is left at `now` is the
/// limit minus everything recorded in the buckets that count at `now` (`QuotaWindow`), future
/// ones included. Given back at r, the unused part leaves and the spent part moves to r's bucket.
/// So a grant counts from the moment it is made until a window (plus at most one bucket) after
/// its lease ended (given back, or expired), and every message sent from it was sent in between.
///
/// Why the fleet never sends more than the limit in any window of its length: take the
/// messages sent in one such interval I, and among the grants they came from the last one made,
/// at g. Every other of those grants was made before g and ended after its message in I, so it
/// counted until at least the end of I, which is after g: at g all of them counted, and g was
/// granted only up to `limit - counted` (grants for one account's window are serialised on a
/// row lock, see `FleetSchema.rollingQuotaMigration`). The bucket rounding only ever counts
/// longer, by at most one bucket (1 s a minute, 1 min an hour, 24 min a day). Replicas' clocks
/// enter as their skew: a replica whose clock is s behind may count a grant s too briefly.
///
/// A lease that expires without being given back (its replica died, or could not reach the
/// database) counts as spent: nobody can know how much of it the replica used before it stopped,
/// and reclaiming it could let the fleet exceed the limit. That is the price of a dead replica:
/// its outstanding lease, for a window after its expiry (`QuotaLeaseRequest.maximumBlock` caps
/// it). `prune` removes such leases from the table, not from the count.
///
/// Time is the caller's (`now`), so every replica's wall clock decides its own buckets and the
/// tests run without sleeping.
public struct FleetQuotaLeases: Sendable {
    public let database: FleetDatabase

    public init(database: FleetDatabase) {
        self.database = database
    }

    /// A block of what is left in the window ending at `now`: about 1/`fleetSizeHint` of it, at
    /// least `atLeast` and at most `maximumBlock` or what is left. Nil when nothing is left.
    public func lease(_ request: QuotaLeaseRequest, now: Date, timeout: Duration? = nil) async throws(FleetStateError) -> QuotaLease? {
        guard request.limit > 0 else { return nil }
        let limit = request.limit, hint = max(1, request.fleetSizeHint)
        let atLeast = max(1, request.atLeast), cap = max(1, request.maximumBlock)
        let usableUntil = now.addingTimeInterval(Self.seconds(request.duration))
        let bucket = request.window.bucket(containing: usableUntil)
        let oldest = request.window.oldestCountedBucket(at: now)
        let id = UUID()
        let account = request.account, kind = request.window.rawValue, replica = database.configuration.replicaID
        let expiresAtMs = Self.milliseconds(usableUntil)
        let logger = database.logger
        let giveBackLate: @Sendable (QuotaLease?) async -> Void = { [self] late in
            guard let late else { return }
            // Nobody holds it: give all of it back, with the server's own bound as the wait.
            _ = try? await giveBack(leaseID: late.id, unused: late.amount, window: late.window, now: now,
                                    timeout: database.configuration.statementTimeout)
        }
        return try await database.call("quota lease", timeout: timeout, abandoned: giveBackLate) { client -> QuotaLease? in
            let rows = try await client.query("""
                SELECT lease_amount, fleet_granted FROM fleet_quota_grant(
                    \(id), \(account), \(kind), \(limit), \(oldest), \(bucket),
                    \(hint), \(atLeast), \(cap), \(replica), \(expiresAtMs))
                """, logger: logger)
            var lease: QuotaLease?
            for try await (amount, granted) in rows.decode((Int, Int).self) {
                lease = QuotaLease(id: id, account: account, window: request.window, bucketStart: bucket,
                                   amount: amount, usableUntil: usableUntil, fleetGranted: granted)
            }
            return lease
        }
    }

    /// Ends a lease at `now`: its `unused` part goes back to the window for the other replicas.
    /// Call it only once nothing more will be spent from the lease. False when the lease was
    /// unknown: already given back, or pruned after expiring (then it stays counted as spent).
    @discardableResult
    public func giveBack(_ balance: QuotaLeaseBalance, now: Date, timeout: Duration? = nil) async throws(FleetStateError) -> Bool {
        try await giveBack(leaseID: balance.lease.id, unused: balance.unused, window: balance.lease.window, now: now, timeout: timeout)
    }

    func giveBack(leaseID: UUID, unused: Int, window: QuotaWindow, now: Date, timeout: Duration?) async throws(FleetStateError) -> Bool {
        let unused = max(0, unused), bucket = window.bucket(containing: now)
        let logger = database.logger
        return try await database.call("quota lease give-back", timeout: timeout) { client in
            let rows = try await client.query("SELECT fleet_quota_give_back(\(leaseID), \(unused), \(bucket))", logger: logger)
            var found = false
            for try await value in rows.decode(Bool.self) { found = value }
            return found
        }
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func milliseconds(_ date: Date) -> Int {
        Int((date.timeIntervalSince1970 * 1000).rounded(.down))
    }
}
