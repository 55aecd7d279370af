import Testing
import Resilience
import SeededRandom

/// Checks the counter against a naive list of timestamps over random event sequences.
@Suite struct RollingWindowPropertyTests {
    struct Scenario: Sendable, CustomTestStringConvertible {
        let seed: UInt64
        let window: Duration
        let buckets: Int
        let limit: Int
        /// Gaps between attempts are uniform in 0...maxGap.
        let maxGap: Duration
        var testDescription: String { "seed \(seed), window \(window), \(buckets) buckets, limit \(limit)" }
    }

    static let scenarios: [Scenario] = [
        Scenario(seed: 1, window: .seconds(60), buckets: 60, limit: 5, maxGap: .seconds(5)),
        Scenario(seed: 2, window: .seconds(60), buckets: 60, limit: 30, maxGap: .milliseconds(700)),
        Scenario(seed: 3, window: .seconds(3600), buckets: 60, limit: 20, maxGap: .seconds(400)),
        Scenario(seed: 4, window: .seconds(10), buckets: 7, limit: 3, maxGap: .seconds(3)),
        Scenario(seed: 5, window: .seconds(86_400), buckets: 60, limit: 100, maxGap: .seconds(1800)),
        Scenario(seed: 6, window: .milliseconds(1), buckets: 3, limit: 2, maxGap: .microseconds(300)),
    ]

    @Test(arguments: scenarios) func neverMoreThanLimitInAnyTrueWindow(_ s: Scenario) {
        var rng = SplitMix64(seed: s.seed)
        let t0 = ContinuousClock.now
        var counter = RollingWindowCounter(window: s.window, buckets: s.buckets)
        let bucketWidth = bucketWidthOf(s)
        var admitted: [ContinuousClock.Instant] = []
        var now = t0
        let maxGap = s.maxGap.inNanoseconds
        for _ in 0..<3000 {
            now += .nanoseconds(Int64.random(in: 0...maxGap, using: &rng))
            // Bounds from the documented semantics: an event counts at least `window`, and stops
            // counting within one bucket after that.
            let lower = admitted.filter { now - $0 <= s.window }.count
            let upper = admitted.filter { now - $0 < s.window + bucketWidth }.count
            let counted = counter.count(at: now)
            #expect(lower <= counted && counted <= upper)

            let free = counter.freeAt(needed: 1, limit: s.limit, at: now)
            #expect((free == nil) == (counted + 1 <= s.limit))
            if let free {
                // Earliest: one nanosecond before, there is still no room.
                var probe = counter
                #expect(probe.count(at: free) + 1 <= s.limit)
                var early = counter
                #expect(early.count(at: free - .nanoseconds(1)) + 1 > s.limit)
                continue
            }
            counter.add(at: now)
            admitted.append(now)
            // Every true window of length `window` ending at this event holds at most `limit`.
            #expect(admitted.filter { now - $0 <= s.window }.count <= s.limit)
        }
        #expect(admitted.count > s.limit, "the scenario must actually hit the limit")
    }

    @Test(arguments: [UInt64(11), 12, 13]) func refundsKeepTheCountInBounds(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let t0 = ContinuousClock.now
        let window = Duration.seconds(60)
        var counter = RollingWindowCounter(window: window)
        var live: [(at: ContinuousClock.Instant, slot: RollingWindowCounter.Slot)] = []
        var now = t0
        for _ in 0..<2000 {
            now += .milliseconds(Int.random(in: 0...400, using: &rng))
            if !live.isEmpty, Bool.random(using: &rng) {
                let victim = live.remove(at: Int.random(in: 0..<live.count, using: &rng))
                counter.refund(slot: victim.slot, at: now)
            } else {
                live.append((now, counter.add(at: now)))
            }
            let lower = live.filter { now - $0.at <= window }.count
            let upper = live.filter { now - $0.at < window + .seconds(1) }.count
            let counted = counter.count(at: now)
            #expect(lower <= counted && counted <= upper)
        }
    }

    private func bucketWidthOf(_ s: Scenario) -> Duration {
        let buckets = Int64(s.buckets)
        return .nanoseconds((s.window.inNanoseconds + buckets - 1) / buckets)
    }
}
