import Foundation

/// One account's window on this replica: the leases it holds, and what it sent.
struct FleetQuotaSlot: Sendable {
    /// Held leases, oldest first; spent from in that order. At most two usable: the one being
    /// spent and the one asked for before it ran out (`maintain` gives back the others).
    static let maximumLeases = 2

    var limit: Int
    var leases: [QuotaLeaseBalance] = []
    /// Everything sent under this window, from leases or not: the local share counts it all.
    var sent: LocalShareCounter
    var refill: Task<Void, Never>?
    /// The fleet had nothing left: no lease call before then.
    var exhaustedUntil: Date?
    var lastSpend: Date?

    init(window: QuotaWindow, limit: Int) {
        self.limit = limit
        self.sent = LocalShareCounter(window: window)
    }

    /// Spends `count` from the oldest held lease that has that much, and returns its id.
    mutating func spendFromLease(_ count: Int, at now: Date) -> UUID? {
        for index in leases.indices where leases[index].spend(count, at: now) {
            sent.add(count, at: now)
            lastSpend = now
            return leases[index].lease.id
        }
        return nil
    }

    /// What the held leases still allow at `now`, and how many of them are usable. A loop, not
    /// `filter`: it runs for every message.
    func usable(at now: Date) -> (leases: Int, available: Int) {
        var count = 0, available = 0
        for balance in leases where balance.isUsable(at: now) {
            count += 1
            available += balance.unused
        }
        return (count, available)
    }

    /// Whether to ask for the next lease before this one runs out.
    func wantsRefill(at now: Date, below fraction: Double) -> Bool {
        guard refill == nil else { return false }
        let (count, available) = usable(at: now)
        guard count < Self.maximumLeases else { return false }
        if let exhaustedUntil, now < exhaustedUntil { return false }
        let last = leases.last?.lease.amount ?? 0
        return Double(available) <= Double(last) * fraction || available == 0
    }

    /// Takes out the leases to give back: expired, used up, or untouched since `idleSince`
    /// (all of them when `idleSince` is nil).
    mutating func retire(at now: Date, idleSince: Date?) -> [QuotaLeaseBalance] {
        let idle = idleSince.map { (lastSpend ?? .distantPast) < $0 } ?? true
        let (done, kept) = leases.reduce(into: ([QuotaLeaseBalance](), [QuotaLeaseBalance]())) { parts, balance in
            if idle || !balance.isUsable(at: now) { parts.0.append(balance) } else { parts.1.append(balance) }
        }
        leases = kept
        return done
    }
}
