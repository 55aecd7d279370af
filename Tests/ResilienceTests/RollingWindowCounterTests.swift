import Testing
@testable import Resilience

@Suite struct RollingWindowCounterTests {
    let t0 = ContinuousClock.now

    @Test func eventCountsForAtLeastTheWindowAndAtMostOneBucketMore() {
        // 60 s window in 60 buckets of 1 s; the event lands 0.5 s into bucket 0.
        var counter = RollingWindowCounter(window: .seconds(60))
        _ = counter.count(at: t0)
        counter.add(at: t0 + .milliseconds(500))
        #expect(counter.count(at: t0 + .milliseconds(60_500)) == 1)
        #expect(counter.count(at: t0 + .milliseconds(60_999)) == 1)
        #expect(counter.count(at: t0 + .seconds(61)) == 0)
    }

    @Test func addReturnsSlotsPerBucket() {
        var counter = RollingWindowCounter(window: .seconds(60))
        let a = counter.add(at: t0)
        let b = counter.add(at: t0 + .milliseconds(999))
        let c = counter.add(at: t0 + .seconds(1))
        #expect(a == b)
        #expect(a != c)
        #expect(counter.count(at: t0 + .seconds(1)) == 3)
    }

    @Test func addManyAndIgnoreNegative() {
        var counter = RollingWindowCounter(window: .seconds(60))
        counter.add(5, at: t0)
        counter.add(-3, at: t0)
        #expect(counter.count(at: t0) == 5)
    }

    @Test func refundTakesBackWithoutGoingBelowZero() {
        var counter = RollingWindowCounter(window: .seconds(60))
        let first = counter.add(2, at: t0)
        let second = counter.add(at: t0 + .seconds(10))
        counter.refund(slot: first, at: t0 + .seconds(20))
        #expect(counter.count(at: t0 + .seconds(20)) == 2)
        counter.refund(5, slot: first, at: t0 + .seconds(20))
        #expect(counter.count(at: t0 + .seconds(20)) == 1, "only the one left in that bucket is refunded")
        counter.refund(slot: second, at: t0 + .seconds(20))
        #expect(counter.count(at: t0 + .seconds(20)) == 0)
    }

    @Test func refundAfterTheBucketLeftTheWindowIsANoOp() {
        var counter = RollingWindowCounter(window: .seconds(60))
        let old = counter.add(at: t0)
        counter.add(at: t0 + .seconds(61))
        counter.refund(slot: old, at: t0 + .seconds(61))
        #expect(counter.count(at: t0 + .seconds(61)) == 1)
        // Reusing the ring slot of the old bucket must not touch the new bucket in that slot either.
        let late = counter.add(at: t0 + .seconds(61))
        #expect(counter.count(at: t0 + .seconds(61)) == 2)
        counter.refund(slot: late, at: t0 + .seconds(61))
        #expect(counter.count(at: t0 + .seconds(61)) == 1)
    }

    @Test func earlierInstantsCountAsTheLatestSeen() {
        var counter = RollingWindowCounter(window: .seconds(60))
        _ = counter.count(at: t0)
        counter.add(at: t0 + .seconds(30))
        let slot = counter.add(at: t0 + .seconds(10))
        #expect(slot == Slot(bucket: 30))
        #expect(counter.count(at: t0) == 2)
    }

    struct FreeCase: Sendable, CustomTestStringConvertible {
        let name: String
        let events: [(second: Int, count: Int)]
        let askAt: Int
        let needed: Int
        let limit: Int
        /// Seconds after t0, or nil.
        let expected: Int?
        var testDescription: String { name }
    }

    static let freeCases: [FreeCase] = [
        FreeCase(name: "room already", events: [(0, 2)], askAt: 5, needed: 1, limit: 3, expected: nil),
        FreeCase(name: "full: oldest bucket frees", events: [(0, 3)], askAt: 5, needed: 1, limit: 3, expected: 61),
        FreeCase(name: "needs two buckets to go", events: [(0, 1), (10, 1), (20, 1)], askAt: 30, needed: 2, limit: 3, expected: 71),
        FreeCase(name: "needed above limit", events: [(0, 1)], askAt: 1, needed: 4, limit: 3, expected: nil),
        FreeCase(name: "needed equals limit", events: [(0, 1), (30, 1)], askAt: 40, needed: 3, limit: 3, expected: 91),
        FreeCase(name: "empty", events: [], askAt: 0, needed: 3, limit: 3, expected: nil),
        FreeCase(name: "zero limit, nothing needed", events: [(0, 2)], askAt: 0, needed: 0, limit: 0, expected: 61),
    ]

    @Test(arguments: freeCases) func freeAt(_ c: FreeCase) {
        var counter = RollingWindowCounter(window: .seconds(60))
        _ = counter.count(at: t0)
        for event in c.events { counter.add(event.count, at: t0 + .seconds(event.second)) }
        let free = counter.freeAt(needed: c.needed, limit: c.limit, at: t0 + .seconds(c.askAt))
        #expect(free == c.expected.map { t0 + .seconds($0) })
        if let free {
            #expect(counter.count(at: free) + c.needed <= c.limit)
        }
    }

    @Test func windowNotDivisibleByBucketsStillCoversTheWindow() {
        // 100 ns in 60 buckets: buckets are 2 ns wide, so an event counts 120..122 ns.
        var counter = RollingWindowCounter(window: .nanoseconds(100), buckets: 60)
        counter.add(at: t0)
        #expect(counter.count(at: t0 + .nanoseconds(100)) == 1)
        #expect(counter.count(at: t0 + .nanoseconds(122)) == 0)
    }

    @Test(arguments: [(Duration.zero, 0), (.seconds(-5), -3), (.seconds(60), 0)])
    func badConfigurationIsClamped(window: Duration, buckets: Int) {
        var counter = RollingWindowCounter(window: window, buckets: buckets)
        #expect(counter.buckets == 1)
        #expect(counter.window >= .nanoseconds(1))
        counter.add(at: t0)
        #expect(counter.count(at: t0) == 1)
        #expect(counter.count(at: t0 + counter.window * 3) == 0)
    }

    @Test func hugeWindowDoesNotTrap() {
        var counter = RollingWindowCounter(window: .seconds(Int64.max))
        counter.add(at: t0)
        #expect(counter.count(at: t0 + .seconds(1_000_000_000)) == 1)
        #expect(counter.freeAt(needed: 1, limit: 1, at: t0) != nil)
    }

    @Test func tenThousandEventsADayUseBoundedMemory() {
        var counter = RollingWindowCounter(window: .seconds(86_400))
        for i in 0..<10_000 {
            counter.add(at: t0 + .seconds(i * 8))  // spread over ~22 h
        }
        #expect(counter.count(at: t0 + .seconds(80_000)) == 10_000)
        #expect(counter.storageCount == 61)
    }

    @Test func longIdleGapEmptiesEverything() {
        var counter = RollingWindowCounter(window: .seconds(60))
        for i in 0..<60 { counter.add(at: t0 + .seconds(i)) }
        #expect(counter.count(at: t0 + .seconds(3600)) == 0)
        #expect(counter.freeAt(needed: 1, limit: 1, at: t0 + .seconds(3600)) == nil)
    }
}

private typealias Slot = RollingWindowCounter.Slot
