import Foundation
import Logging
import NIOConcurrencyHelpers

/// One replica's side of the fleet's quotas: a local balance per account and window, spent
/// without a database round trip, refilled by lease calls that run in tasks of their own (never
/// on the caller's event loop) before it runs out.
///
/// When a lease call fails (database down, slow past `maximumWait`, overloaded), the replica is
/// degraded: it keeps spending its held leases until they expire, then admits under the local
/// share (limit / `fleetSizeHint` per window, counting everything it sent in the window), logs
/// the change once, and tries the database again after a backoff that doubles to a cap. The
/// first lease granted again makes it connected.
public final class FleetQuota: Sendable {
    public let configuration: FleetQuotaConfiguration
    let leases: FleetQuotaLeases
    let now: @Sendable () -> Date
    let logger: Logger
    let slots = NIOLockedValueBox([SlotKey: FleetQuotaSlot]())
    let link: NIOLockedValueBox<DatabaseLink>
    let counters = NIOLockedValueBox(FleetQuotaStatistics())

    struct SlotKey: Hashable, Sendable {
        var account: String
        var window: QuotaWindow
    }

    /// - Parameter now: the wall clock (leases and buckets are in wall-clock time); injected by tests.
    public init(leases: FleetQuotaLeases, configuration: FleetQuotaConfiguration, logger: Logger,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.leases = leases
        self.configuration = configuration
        self.logger = logger
        self.now = now
        self.link = NIOLockedValueBox(DatabaseLink(initialBackoff: configuration.initialBackoff,
                                                   maximumBackoff: configuration.maximumBackoff))
    }

    public var state: FleetQuotaState { link.withLockedValue { $0.state } }
    public var statistics: FleetQuotaStatistics { counters.withLockedValue { $0 } }

    /// Takes `count` from every window of `account` with a limit above 0, or from none. Never
    /// waits: `.pending` when a window has no lease yet and one was asked for (`spend` waits).
    public func trySpend(account: String, limits: [QuotaWindow: Int], count: Int = 1) -> FleetQuotaDecision {
        decide(account: account, limits: limits, count: count, mayWait: true)
    }

    /// `trySpend`, waiting for a missing lease at most `maximumWait` (the lease call's bound);
    /// a window still without one is decided by the local share.
    public func spend(account: String, limits: [QuotaWindow: Int], count: Int = 1) async -> FleetQuotaDecision {
        let first = decide(account: account, limits: limits, count: count, mayWait: true)
        guard case .pending(let refills) = first else { return first }
        counters.withLockedValue { $0.waitedForLease += 1 }
        for refill in refills { await refill.value }
        return decide(account: account, limits: limits, count: count, mayWait: false)
    }

    /// Puts back what a message did not use after all (the provider refused it).
    public func refund(_ spend: FleetQuotaSpend) {
        slots.withLockedValue { Self.undo(spend.parts, count: spend.count, in: &$0) }
    }

    private func decide(account: String, limits: [QuotaWindow: Int], count: Int, mayWait: Bool) -> FleetQuotaDecision {
        let now = now()
        let (connected, attempt) = link.withLockedValue { link in
            (link.state.isConnected, link.mayAttempt(at: now))
        }
        var refills: [Task<Void, Never>] = []
        let decision: FleetQuotaDecision = slots.withLockedValue { slots in
            var parts: [FleetQuotaSpend.Part] = []
            var localShare = 0, fromLeases = 0
            for window in QuotaWindow.decisionOrder {
                guard let limit = limits[window], limit > 0 else { continue }
                let key = SlotKey(account: account, window: window)
                // Changed in place (the dictionary's modify accessor): a copy taken out and
                // written back would make every spend copy the slot's leases, once per message.
                let outcome = decide(&slots[key, default: FleetQuotaSlot(window: window, limit: limit)], key: key, limit: limit,
                                     count: count, now: now, connected: connected, attempt: attempt, mayWait: mayWait)
                switch outcome {
                case .lease(let id):
                    parts.append(.init(key: key, lease: id, bucket: window.bucket(containing: now)))
                    fromLeases += 1
                case .localShare:
                    parts.append(.init(key: key, lease: nil, bucket: window.bucket(containing: now)))
                    localShare += 1
                case .wait(let refill):
                    refills.append(refill)
                case .refused:
                    Self.undo(parts, count: count, in: &slots)
                    return .refused(window)
                }
            }
            if !refills.isEmpty {
                Self.undo(parts, count: count, in: &slots)
                return .pending(refills)
            }
            counters.withLockedValue {
                $0.spentFromLeases += fromLeases
                $0.admittedOnLocalShare += localShare
            }
            return .granted(FleetQuotaSpend(count: count, parts: parts))
        }
        if case .refused = decision { counters.withLockedValue { $0.refused += 1 } }
        return decision
    }

    private enum WindowOutcome {
        case lease(UUID)
        case localShare
        case wait(Task<Void, Never>)
        case refused
    }

    /// One window of one message: from a held lease, else (the database away) the local
    /// share, else a wait for the lease asked for, else refused. Starts a refill when due.
    private func decide(_ slot: inout FleetQuotaSlot, key: SlotKey, limit: Int, count: Int, now: Date,
                        connected: Bool, attempt: Bool, mayWait: Bool) -> WindowOutcome {
        slot.limit = limit
        let mayAsk = connected || attempt
        if let id = slot.spendFromLease(count, at: now) {
            if mayAsk, slot.wantsRefill(at: now, below: configuration.refillBelow) { slot.refill = startRefill(key) }
            return .lease(id)
        }
        if let exhaustedUntil = slot.exhaustedUntil, now < exhaustedUntil { return .refused }
        if mayAsk, slot.wantsRefill(at: now, below: configuration.refillBelow) { slot.refill = startRefill(key) }
        if connected {
            if mayWait, let refill = slot.refill { return .wait(refill) }
            // Reachable, but others took what was granted meanwhile: the local share is for a
            // database that is away, not a way around the fleet's count.
            return .refused
        }
        guard slot.sent.count(at: now) + count <= configuration.localShare(of: limit) else { return .refused }
        slot.sent.add(count, at: now)
        slot.lastSpend = now
        return .localShare
    }

    /// Takes back what a message took: refunded, or refused by another of its windows. A lease
    /// given back meanwhile keeps it spent (it may have been reported so).
    private static func undo(_ parts: [FleetQuotaSpend.Part], count: Int, in slots: inout [SlotKey: FleetQuotaSlot]) {
        for part in parts {
            guard var held = slots[part.key] else { continue }
            if let id = part.lease, let index = held.leases.firstIndex(where: { $0.lease.id == id }) {
                held.leases[index].refund(count)
            }
            held.sent.remove(count, fromBucketAt: part.bucket)
            slots[part.key] = held
        }
    }
}
