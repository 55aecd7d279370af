/// Callers waiting for a grant, in arrival order, each removable by id in O(1) when it times out
/// or is cancelled. Removed ids stay in `order` until they reach the front, where they are
/// skipped, or until a compaction drops them.
public struct WaiterQueue<Element: Sendable>: Sendable {
    private var waiters: [WaiterID: Element] = [:]
    private var order: [WaiterID] = []
    private var head = 0

    public init() {}

    public var count: Int { waiters.count }
    public var isEmpty: Bool { waiters.isEmpty }

    public func contains(_ id: WaiterID) -> Bool {
        waiters[id] != nil
    }

    /// Queues `id` last. An id already queued keeps its place and takes the new element.
    public mutating func append(_ id: WaiterID, _ element: Element) {
        if waiters.updateValue(element, forKey: id) == nil { order.append(id) }
    }

    public mutating func remove(_ id: WaiterID) -> Element? {
        let removed = waiters.removeValue(forKey: id)
        // Timed-out ids behind a long-lived front waiter would otherwise pile up in `order`.
        if order.count - head > 2 * waiters.count + 64 { compact() }
        return removed
    }

    /// The longest waiter, removed.
    public mutating func popFirst() -> (id: WaiterID, element: Element)? {
        while head < order.count {
            let id = order[head]
            head += 1
            if let element = waiters.removeValue(forKey: id) {
                if head > 64, head * 2 > order.count { compact() }
                return (id, element)
            }
        }
        compact()
        return nil
    }

    /// Every waiter, in arrival order; the queue is left empty.
    public mutating func removeAll() -> [(id: WaiterID, element: Element)] {
        var all: [(id: WaiterID, element: Element)] = []
        all.reserveCapacity(waiters.count)
        while let first = popFirst() { all.append(first) }
        return all
    }

    /// Drops the ids before `head` and those of waiters already removed; amortized O(1) per id.
    private mutating func compact() {
        order = order[head...].filter { waiters[$0] != nil }
        head = 0
    }
}
