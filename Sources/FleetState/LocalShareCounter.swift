import Foundation

/// What this replica sent under one account's window, in the fleet's buckets: the measure of
/// the local share when the database is away. At most 61 buckets are kept (those that count),
/// plus any a clock that stepped back left ahead, which age out in turn.
struct LocalShareCounter: Sendable {
    let window: QuotaWindow
    private var buckets: [Int64: Int] = [:]

    init(window: QuotaWindow) {
        self.window = window
    }

    mutating func count(at now: Date) -> Int {
        forget(before: now)
        return buckets.values.reduce(0, +)
    }

    mutating func add(_ count: Int, at now: Date) {
        forget(before: now)
        buckets[window.bucket(containing: now), default: 0] += max(0, count)
    }

    mutating func remove(_ count: Int, fromBucketAt bucket: Int64) {
        guard let held = buckets[bucket] else { return }
        buckets[bucket] = held - min(max(0, count), held)
    }

    private mutating func forget(before now: Date) {
        let oldest = window.oldestCountedBucket(at: now)
        if buckets.keys.contains(where: { $0 < oldest }) { buckets = buckets.filter { $0.key >= oldest } }
    }
}
