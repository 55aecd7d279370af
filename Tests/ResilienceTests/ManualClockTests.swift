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
