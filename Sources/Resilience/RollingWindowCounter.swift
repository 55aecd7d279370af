/// Counts events over a rolling window in O(`buckets`) memory, however many events there are.
///
/// Time is cut into `buckets` sub-buckets of width `window / buckets` (rounded up to whole
/// nanoseconds). An event counts from the moment it is added until its bucket is more than
/// `buckets` buckets old, so an event added at `t` counts until at least `t + window` and at most
/// `t + window + window / buckets`. Erring on the long side keeps a limit conservative: if every
/// event is admitted only while `count + 1 <= limit`, no true rolling window of length `window`
/// ever holds more than `limit` events.
///
/// Not thread-safe: the owner locks. Instants earlier than one already seen are treated as that
/// later instant, because owners read the clock before taking their lock and concurrent callers
/// may therefore arrive slightly out of order.
public struct RollingWindowCounter: Sendable {
    /// The bucket an event went into, so that it can be refunded. Valid only for the counter that
    /// returned it.
    public struct Slot: Sendable, Hashable {
        let bucket: Int64
    }

    /// The window as configured; values below one nanosecond are treated as one.
    public let window: Duration
    /// The number of sub-buckets, at least 1.
    public let buckets: Int

    private let bucketWidth: Int64
    /// A ring of `buckets + 1` counts: the current bucket and the `buckets` before it.
    private var counts: [Int]
    private var total = 0
    /// Bucket boundaries are measured from the first instant the counter saw.
    private var origin: ContinuousClock.Instant?
    /// The absolute number of the newest bucket seen.
    private var head: Int64 = 0

    public init(window: Duration, buckets: Int = 60) {
        let buckets = max(1, buckets)
        let windowNanoseconds = max(1, window.nanosecondsClamped)
        let divisor = Int64(buckets)
        // Rounded up so that `buckets` buckets always cover at least the whole window.
        let remainder = windowNanoseconds % divisor
        self.bucketWidth = windowNanoseconds / divisor + (remainder == 0 ? 0 : 1)
        self.window = .nanoseconds(windowNanoseconds)
        self.buckets = buckets
        self.counts = Array(repeating: 0, count: buckets + 1)
    }

    /// The number of events that count at `instant`.
    public mutating func count(at instant: ContinuousClock.Instant) -> Int {
        advance(to: instant)
        return total
    }

    /// Records `n` events (negative `n` records nothing) and returns where they went.
    @discardableResult
    public mutating func add(_ n: Int = 1, at instant: ContinuousClock.Instant) -> Slot {
        advance(to: instant)
        let added = max(0, n)
        counts[index(of: head)] += added
        total += added
        return Slot(bucket: head)
    }

    /// Takes back up to `n` events recorded in `slot`. A no-op once that bucket has left the
    /// window (the events no longer count anyway); never takes a bucket below zero.
    public mutating func refund(_ n: Int = 1, slot: Slot, at instant: ContinuousClock.Instant) {
        advance(to: instant)
        guard slot.bucket <= head, head - slot.bucket <= Int64(buckets) else { return }
        let index = index(of: slot.bucket)
        let refunded = min(max(0, n), counts[index])
        counts[index] -= refunded
        total -= refunded
    }

    /// The earliest instant at which `count + needed <= limit` will hold if nothing is added meanwhile.
    ///
    /// Returns nil if it already holds at `instant`, and also when `needed > limit`, which can never
    /// hold: callers must treat that case (a request bigger than the limit itself) on their own.
    public mutating func freeAt(needed: Int, limit: Int, at instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        advance(to: instant)
        guard needed <= limit, total + needed > limit, let origin else { return nil }
        let excess = total + needed - limit
        var dropped = 0
        // Oldest bucket first: buckets leave the window in that order.
        for bucket in max(0, head - Int64(buckets))...head {
            dropped += counts[index(of: bucket)]
            if dropped >= excess { return origin + .nanoseconds(expiry(of: bucket)) }
        }
        // Unreachable while `total` equals the sum of the buckets; the window's end is a safe answer.
        return origin + .nanoseconds(expiry(of: head))
    }

    /// The events still counting, by how long before `instant` their bucket began, oldest
    /// first: what a restart needs to rebuild the window (`add` them back, oldest first, at
    /// `instant - age`).
    public mutating func history(at instant: ContinuousClock.Instant) -> [(age: Duration, count: Int)] {
        advance(to: instant)
        guard let origin else { return [] }
        var result: [(age: Duration, count: Int)] = []
        for bucket in max(0, head - Int64(buckets))...head {
            let count = counts[index(of: bucket)]
            guard count > 0 else { continue }
            let (start, overflow) = bucket.multipliedReportingOverflow(by: bucketWidth)
            let age = overflow ? Duration.zero : max(.zero, instant - (origin + .nanoseconds(start)))
            result.append((age, count))
        }
        return result
    }

    /// The size of the bucket storage, for tests of the memory bound.
    var storageCount: Int { counts.count }

    /// Nanoseconds after the origin at which `bucket` stops counting.
    private func expiry(of bucket: Int64) -> Int64 {
        let (sum, overflow) = bucket.addingReportingOverflow(Int64(buckets) + 1)
        if overflow { return .max }
        let (product, overflow2) = sum.multipliedReportingOverflow(by: bucketWidth)
        return overflow2 ? .max : product
    }

    private func index(of bucket: Int64) -> Int {
        Int(bucket % Int64(counts.count))
    }

    /// Moves `head` to the bucket of `instant`, emptying the buckets that left the window.
    private mutating func advance(to instant: ContinuousClock.Instant) {
        guard let origin else {
            origin = instant
            return
        }
        let elapsed = max(0, (instant - origin).nanosecondsClamped)
        let bucket = elapsed / bucketWidth
        guard bucket > head else { return }
        if bucket - head >= Int64(counts.count) {
            for index in counts.indices { counts[index] = 0 }
            total = 0
        } else {
            for passed in (head + 1)...bucket {
                let index = index(of: passed)
                total -= counts[index]
                counts[index] = 0
            }
        }
        head = bucket
    }
}
