import Testing
import Resilience

@Suite struct WaiterQueueTests {
    @Test func popsInArrivalOrderSkippingRemovedWaiters() {
        var queue = WaiterQueue<String>()
        for (index, name) in ["a", "b", "c", "d"].enumerated() { queue.append(WaiterID(UInt64(index)), name) }
        #expect(queue.remove(WaiterID(1)) == "b")
        #expect(queue.remove(WaiterID(1)) == nil, "removing twice finds nothing")
        #expect(queue.count == 3)
        #expect(queue.popFirst()?.element == "a")
        #expect(queue.popFirst()?.id == WaiterID(2))
        #expect(queue.contains(WaiterID(3)))
        #expect(queue.removeAll().map(\.element) == ["d"])
        #expect(queue.isEmpty)
        #expect(queue.popFirst() == nil)
    }

    @Test func appendingAQueuedIdKeepsItsPlace() {
        var queue = WaiterQueue<Int>()
        queue.append(WaiterID(1), 1)
        queue.append(WaiterID(2), 2)
        queue.append(WaiterID(1), 10)
        #expect(queue.count == 2)
        #expect(queue.removeAll().map(\.element) == [10, 2])
    }

    /// Long churn behind a waiter that never leaves: compaction keeps the order and the contents.
    @Test func churnBehindALongWaiterKeepsOrder() {
        var queue = WaiterQueue<UInt64>()
        queue.append(WaiterID(0), 0)
        for id in UInt64(1)...10_000 {
            queue.append(WaiterID(id), id)
            if id % 3 != 0 { #expect(queue.remove(WaiterID(id)) == id) }
        }
        let remaining = queue.removeAll().map(\.element)
        #expect(remaining == [0] + stride(from: 3, through: 9_999, by: 3).map { UInt64($0) })
    }
}
