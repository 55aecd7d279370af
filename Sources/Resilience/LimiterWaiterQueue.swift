/// The waiters of a `ConcurrencyLimiter` in arrival order, removable by id in O(1) when one times
/// out or is cancelled. Removed ids stay in `order` until they reach the front, where they are skipped.
struct LimiterWaiterQueue: Sendable {
    struct Waiter: Sendable {
        let continuation: CheckedContinuation<Bool, Never>
        var timer: Task<Void, Never>?
    }

    private var waiters: [UInt64: Waiter] = [:]
    private var order: [UInt64] = []
    private var head = 0

    var count: Int { waiters.count }
    var isEmpty: Bool { waiters.isEmpty }

    mutating func append(_ id: UInt64, _ waiter: Waiter) {
        waiters[id] = waiter
        order.append(id)
    }

    /// Attaches the timeout timer; false if the waiter is already gone (the caller then cancels it).
    mutating func setTimer(_ timer: Task<Void, Never>, for id: UInt64) -> Bool {
        guard waiters[id] != nil else { return false }
        waiters[id]?.timer = timer
        return true
    }

    mutating func remove(_ id: UInt64) -> Waiter? {
        let removed = waiters.removeValue(forKey: id)
        // Timed-out ids behind a long-lived front waiter would otherwise pile up in `order`.
        if order.count - head > 2 * waiters.count + 64 { compact() }
        return removed
    }

    /// The longest waiter, removed.
    mutating func popFirst() -> Waiter? {
        while head < order.count {
            let id = order[head]
            head += 1
            if let waiter = waiters.removeValue(forKey: id) {
                if head > 64, head * 2 > order.count { compact() }
                return waiter
            }
        }
        compact()
        return nil
    }

    /// Drops the ids before `head` and those of waiters already removed; amortized O(1) per id.
    private mutating func compact() {
        order = order[head...].filter { waiters[$0] != nil }
        head = 0
    }
}
