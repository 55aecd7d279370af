import Foundation

/// A block of one account's window, leased by this replica: it may send up to `amount` under
/// that window until `usableUntil`, and then gives back what it did not use.
public struct QuotaLease: Sendable, Hashable {
    public let id: UUID
    public let account: String
    public let window: QuotaWindow
    /// The bucket the grant is recorded in while the lease is held: its expiry's.
    public let bucketStart: Int64
    public let amount: Int
    /// The lease's expiry.
    public let usableUntil: Date
    /// What counted in the window after this grant (for logs and tests).
    public let fleetGranted: Int

    public init(id: UUID, account: String, window: QuotaWindow, bucketStart: Int64, amount: Int, usableUntil: Date, fleetGranted: Int) {
        self.id = id
        self.account = account
        self.window = window
        self.bucketStart = bucketStart
        self.amount = amount
        self.usableUntil = usableUntil
        self.fleetGranted = fleetGranted
    }
}

/// What is left of a lease on this replica. Spending is local and needs no database: the point
/// of leasing. After `usableUntil` nothing is spent from it, so what `unused` then says is
/// exactly what may be given back.
public struct QuotaLeaseBalance: Sendable, Hashable {
    public let lease: QuotaLease
    public private(set) var spent = 0

    public init(_ lease: QuotaLease) {
        self.lease = lease
    }

    public var unused: Int { lease.amount - spent }

    public func isUsable(at now: Date) -> Bool {
        now < lease.usableUntil && unused > 0
    }

    /// Takes `count` from the lease if it is still usable and holds that much.
    public mutating func spend(_ count: Int = 1, at now: Date) -> Bool {
        guard count > 0, now < lease.usableUntil, count <= unused else { return false }
        spent += count
        return true
    }

    /// Puts back what a message did not use after all (the provider refused it).
    public mutating func refund(_ count: Int = 1) {
        spent -= min(max(0, count), spent)
    }
}
