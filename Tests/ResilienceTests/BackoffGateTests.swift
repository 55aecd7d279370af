import NIOConcurrencyHelpers
import Testing
import Resilience
import TestSupport

@Suite struct BackoffGateTests {
    let clock = ManualClock()
    let backoff = ExponentialBackoff(initial: .seconds(10), maximum: .seconds(60))

    /// A gate whose jitter returns the given values in turn (the last one repeats).
    func gate(random values: [Double]) -> BackoffGate {
        let remaining = NIOLockedValueBox(values)
        return BackoffGate(backoff: backoff, clock: clock.clock) {
            remaining.withLockedValue { $0.count > 1 ? $0.removeFirst() : ($0.first ?? 0) }
        }
    }

    @Test func freeUntilSlowDown() {
        let gate = gate(random: [0.5])
        #expect(gate.blockedFor() == nil)
        #expect(gate.consecutiveSlowDowns == 0)
    }

    @Test func slowDownsBlockForGrowingJitteredDelays() {
        let gate = gate(random: [0.5])
        gate.recordSlowDown()
        #expect(gate.consecutiveSlowDowns == 1)
        #expect(gate.blockedFor() == .seconds(5))
        clock.advance(by: .seconds(5))
        #expect(gate.blockedFor() == nil)
        gate.recordSlowDown()
        #expect(gate.blockedFor() == .seconds(10))
        clock.advance(by: .seconds(10))
        gate.recordSlowDown()
        #expect(gate.blockedFor() == .seconds(20))
        clock.advance(by: .seconds(20))
        for _ in 0..<10 { gate.recordSlowDown() }
        #expect(gate.blockedFor() == .seconds(30), "capped at half the maximum with random 0.5")
        #expect(gate.consecutiveSlowDowns == 13)
    }

    @Test func remainingBlockShrinksWithTime() {
        let gate = gate(random: [0.9])
        gate.recordSlowDown()
        clock.advance(by: .seconds(4))
        #expect(gate.blockedFor() == .seconds(5))
    }

    @Test func aShorterJitteredDelayDoesNotLiftALongerBlock() {
        let gate = gate(random: [0.9, 0.1])
        gate.recordSlowDown()  // 9 s
        gate.recordSlowDown()  // 2 s of a 20 s ceiling
        #expect(gate.blockedFor() == .seconds(9))
    }

    @Test func successResets() {
        let gate = gate(random: [1.0])
        gate.recordSlowDown()
        gate.recordSlowDown()
        gate.recordSuccess()
        #expect(gate.blockedFor() == nil)
        #expect(gate.consecutiveSlowDowns == 0)
        gate.recordSlowDown()
        #expect(gate.blockedFor() == .seconds(10), "back to the first step")
    }

    @Test func blockUntilExtendsButNeverShortensAndLeavesTheSlowDownCount() {
        let gate = gate(random: [0.5])
        #expect(gate.block(until: clock.now + .seconds(40)))
        #expect(gate.blockedFor() == .seconds(40))
        #expect(gate.consecutiveSlowDowns == 0, "another replica's slow-down is not this one's")
        #expect(!gate.block(until: clock.now + .seconds(10)))
        #expect(gate.blockedFor() == .seconds(40))
        gate.recordSlowDown()
        #expect(gate.blockedFor() == .seconds(40), "a shorter own slow-down keeps the longer block")
        #expect(gate.block(until: clock.now + .seconds(90)))
        clock.advance(by: .seconds(89))
        #expect(gate.blockedFor() == .seconds(1))
        clock.advance(by: .seconds(1))
        #expect(gate.blockedFor() == nil)
    }
}
