import Testing
import Resilience
import TestSupport

@Suite struct ManualClockTests {
    @Test func advancesOnlyWhenTold() {
        let start = ContinuousClock.now
        let clock = ManualClock(start: start)
        #expect(clock.now == start)
        clock.advance(by: .seconds(5))
        #expect(clock.now == start + .seconds(5))
        #expect(clock.clock.now() == start + .seconds(5))
    }

    @Test func ignoresNegativeAdvances() {
        let clock = ManualClock()
        let before = clock.now
        clock.advance(by: .seconds(-5))
        #expect(clock.now == before)
    }

    @Test func systemClockMovesForward() {
        let first = ResilienceClock.system.now()
        #expect(ResilienceClock.system.now() >= first)
    }
}

@Suite struct ManualClockTimeoutTests {
    @Test func timeoutsFireWhenTheClockReachesThemEarliestFirst() {
        let clock = ManualClock()
        let fired = Recorder<String>()
        _ = clock.schedule(after: .seconds(10)) { fired.append("late") }
        _ = clock.schedule(after: .seconds(5)) { fired.append("early") }
        clock.advance(by: .seconds(4))
        #expect(fired.all.isEmpty)
        #expect(clock.pendingTimeouts == 2)
        clock.advance(by: .seconds(6))
        #expect(fired.all == ["early", "late"])
        #expect(clock.pendingTimeouts == 0)
        clock.advance(by: .seconds(60))
        #expect(fired.all.count == 2, "each fires once")
    }

    @Test func aCancelledTimeoutNeverFires() {
        let clock = ManualClock()
        let fired = Recorder<Int>()
        let timeout = clock.schedule(after: .seconds(1)) { fired.append(1) }
        timeout.cancel()
        timeout.cancel()
        #expect(clock.pendingTimeouts == 0)
        clock.advance(by: .seconds(2))
        #expect(fired.all.isEmpty)
    }

    @Test func aTimeoutMayScheduleAnother() {
        let clock = ManualClock()
        let fired = Recorder<Int>()
        _ = clock.schedule(after: .seconds(1)) {
            fired.append(1)
            _ = clock.schedule(after: .seconds(1)) { fired.append(2) }
        }
        clock.advance(by: .seconds(1))
        #expect(fired.all == [1])
        clock.advance(by: .seconds(1))
        #expect(fired.all == [1, 2])
    }
}
