import NIOCore
import Testing
@testable import LoadGenerator

@Suite struct RateScheduleTests {
    @Test func slotOffsetsAreSlotOverRate() {
        let schedule = RateSchedule(rate: 100)
        #expect(schedule.offsetNanoseconds(ofSlot: 0) == 0)
        #expect(schedule.offsetNanoseconds(ofSlot: 1) == 10_000_000)
        #expect(schedule.offset(ofSlot: 250) == .milliseconds(2500))
        let third = RateSchedule(rate: 3)
        #expect(third.offsetNanoseconds(ofSlot: 1) == 333_333_333)
        #expect(third.offsetNanoseconds(ofSlot: 2) == 666_666_667)
        #expect(third.offsetNanoseconds(ofSlot: 3) == 1_000_000_000)
        let slow = RateSchedule(rate: 0.5)
        #expect(slow.offset(ofSlot: 3) == .seconds(6))
    }

    @Test func slotsBeforeAnOffsetCountsStrictlyEarlierSlots() {
        let schedule = RateSchedule(rate: 100)
        #expect(schedule.slots(before: .zero) == 0)
        #expect(schedule.slots(before: .nanoseconds(1)) == 1)
        #expect(schedule.slots(before: .milliseconds(10)) == 1)
        #expect(schedule.slots(before: .milliseconds(10) + .nanoseconds(1)) == 2)
        #expect(schedule.slots(before: .seconds(1)) == 100)
        #expect(schedule.slots(before: .seconds(30)) == 3000)
        let third = RateSchedule(rate: 3)
        #expect(third.slots(before: .seconds(1)) == 3)
        #expect(third.slots(before: .milliseconds(334)) == 2)
        // Consistent with the offsets whatever the rate.
        for rate in [0.7, 1, 3, 7.5, 1000, 12345.6] {
            let schedule = RateSchedule(rate: rate)
            for offset in [Duration.milliseconds(1), .milliseconds(999), .seconds(2), .milliseconds(12_345)] {
                let n = schedule.slots(before: offset)
                #expect(n == 0 || schedule.offset(ofSlot: n - 1) < offset)
                #expect(schedule.offset(ofSlot: n) >= offset)
            }
        }
    }
}

@Suite struct RunStateTests {
    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func done(_ state: RunState, recorded: Bool = true, accepted: Bool = true, at: NIODeadline) -> RunState.Completion {
        RunState.Completion(recorded: recorded, accepted: accepted, at: at)
    }

    @Test func fixedRateDealsConsecutiveSlotsWithTheirScheduledTimes() throws {
        let state = RunState(start: t0, warmup: .zero, stop: .messages(5), rate: 100)
        var times: [NIODeadline] = []
        // Claimed late (at t0 + 1 s): the intended times stay on the schedule.
        while let claim = state.finish(nil, claimNext: true, now: t0 + .seconds(1)) {
            #expect(claim.recorded)
            times.append(try #require(claim.intendedStart))
        }
        #expect(times == (0..<5).map { t0 + .milliseconds(Int64($0) * 10) })
        #expect(!state.hasWork(now: t0))
    }

    @Test func fixedRateWarmUpSlotsAreSentButNotRecorded() {
        // 100/s with 50 ms of warm-up: slots 0...4 are warm-up, then 3 recorded.
        let state = RunState(start: t0, warmup: .milliseconds(50), stop: .messages(3), rate: 100)
        var recorded: [Bool] = []
        while let claim = state.finish(nil, claimNext: true, now: t0) { recorded.append(claim.recorded) }
        #expect(recorded == [false, false, false, false, false, true, true, true])
    }

    @Test func fixedRateDurationEndsAtTheLastSlotBeforeTheEnd() {
        let state = RunState(start: t0, warmup: .zero, stop: .duration(.milliseconds(100)), rate: 50)
        var count = 0
        while state.finish(nil, claimNext: true, now: t0) != nil { count += 1 }
        #expect(count == 5)  // 0, 20, 40, 60, 80 ms
    }

    @Test func closedLoopCountsOnlyMessagesAfterTheWarmUp() {
        let state = RunState(start: t0, warmup: .seconds(1), stop: .messages(2), rate: nil)
        let early = state.finish(nil, claimNext: true, now: t0 + .milliseconds(500))
        #expect(early == RunState.Claim(intendedStart: nil, recorded: false))
        #expect(state.finish(nil, claimNext: true, now: t0 + .milliseconds(999))?.recorded == false)
        #expect(state.finish(nil, claimNext: true, now: t0 + .seconds(1))?.recorded == true)
        #expect(state.hasWork(now: t0 + .seconds(2)))
        #expect(state.finish(nil, claimNext: true, now: t0 + .seconds(2))?.recorded == true)
        #expect(!state.hasWork(now: t0 + .seconds(2)))
        #expect(state.finish(nil, claimNext: true, now: t0 + .seconds(2)) == nil)
    }

    @Test func closedLoopDurationStopsClaimingAtTheEnd() {
        let state = RunState(start: t0, warmup: .zero, stop: .duration(.seconds(10)), rate: nil)
        #expect(state.finish(nil, claimNext: true, now: t0 + .seconds(9)) != nil)
        #expect(state.hasWork(now: t0 + .seconds(9)))
        #expect(!state.hasWork(now: t0 + .seconds(10)))
        #expect(state.finish(nil, claimNext: true, now: t0 + .seconds(10)) == nil)
        #expect(state.finish(nil, claimNext: true, now: t0 + .seconds(1)) == nil, "stopped for good")
    }

    @Test func countersTrackRecordedOutcomes() {
        let state = RunState(start: t0, warmup: .zero, stop: .messages(100), rate: nil)
        _ = state.finish(done(state, recorded: false, at: t0 + .seconds(1)), claimNext: false, now: t0)
        _ = state.finish(done(state, at: t0 + .seconds(3)), claimNext: false, now: t0)
        _ = state.finish(done(state, accepted: false, at: t0 + .seconds(2)), claimNext: false, now: t0)
        state.connectionError()
        let snapshot = state.snapshot()
        #expect(snapshot.counters == RunState.Counters(sent: 2, accepted: 1, completedAll: 3, connectionErrors: 1))
        #expect(snapshot.lastRecordedCompletion == t0 + .seconds(3))
        state.stopNow()
        #expect(!state.hasWork(now: t0))
    }
}
