import Testing
import Resilience

@Suite struct ExponentialBackoffTests {
    let backoff = ExponentialBackoff(initial: .seconds(5), maximum: .seconds(300))

    @Test(arguments: [(0, 0), (-3, 0), (1, 5), (2, 10), (3, 20), (4, 40), (6, 160), (7, 300), (8, 300),
                      (1000, 300), (Int.max, 300)])
    func ceilingDoublesUpToTheMaximum(failures: Int, seconds: Int) {
        #expect(backoff.ceiling(afterFailures: failures) == .seconds(seconds))
    }

    @Test(arguments: [0.0, 0.25, 0.5, 0.999_999])
    func fullJitterScalesTheCeiling(random: Double) {
        let delay = backoff.delay(afterFailures: 3, random: random)
        let expected = 20 * random
        #expect(abs(delay.inSeconds - expected) < 1e-6)
    }

    @Test(arguments: [-1.0, .nan, 1.0, 7.5, .infinity])
    func outOfRangeRandomIsClamped(random: Double) {
        let delay = backoff.delay(afterFailures: 2, random: random)
        #expect(delay >= .zero && delay <= .seconds(10))
    }

    @Test func otherMultipliers() {
        let triple = ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(10), multiplier: 3)
        #expect(triple.ceiling(afterFailures: 3) == .milliseconds(900))
        let half = ExponentialBackoff(initial: .seconds(1), maximum: .seconds(10), multiplier: 0.5)
        #expect(half.ceiling(afterFailures: 50) == .seconds(1), "a multiplier below 1 is treated as 1")
        let nan = ExponentialBackoff(initial: .seconds(1), maximum: .seconds(10), multiplier: .nan)
        #expect(nan.ceiling(afterFailures: 50) == .seconds(1))
        let huge = ExponentialBackoff(initial: .seconds(1), maximum: .seconds(10), multiplier: .infinity)
        #expect(huge.ceiling(afterFailures: 2) == .seconds(10))
    }

    @Test(arguments: [
        ExponentialBackoff(initial: .zero, maximum: .seconds(10)),
        ExponentialBackoff(initial: .seconds(-1), maximum: .seconds(10)),
        ExponentialBackoff(initial: .seconds(1), maximum: .seconds(-10)),
    ])
    func nonPositiveDurationsGiveZero(_ backoff: ExponentialBackoff) {
        #expect(backoff.ceiling(afterFailures: 3) == .zero)
        #expect(backoff.delay(afterFailures: 3, random: 0.5) == .zero)
    }

    @Test func maximumBelowInitialCaps() {
        let backoff = ExponentialBackoff(initial: .seconds(10), maximum: .seconds(3))
        #expect(backoff.ceiling(afterFailures: 1) == .seconds(3))
    }

    @Test func hugeDurationsDoNotOverflow() {
        let backoff = ExponentialBackoff(initial: .seconds(Int64.max / 2), maximum: .seconds(Int64.max))
        #expect(backoff.ceiling(afterFailures: 100) == .seconds(Int64.max))
        #expect(backoff.delay(afterFailures: 100, random: 0.5) > .zero)
    }
}
