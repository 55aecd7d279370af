import NIOConcurrencyHelpers
import Testing
import Resilience
import SeededRandom
import TestSupport

@Suite struct ConcurrencyLimiterTests {
    @Test func limitTwoThirdTimesOut() async {
        let limiter = ConcurrencyLimiter(limit: 2)
        #expect(await limiter.acquire(timeout: .milliseconds(20)))
        #expect(await limiter.acquire(timeout: .milliseconds(20)))
        let started = ContinuousClock.now
        #expect(await limiter.acquire(timeout: .milliseconds(20)) == false)
        #expect(ContinuousClock.now - started >= .milliseconds(20))
        #expect(limiter.inUse == 2)
        #expect(limiter.waiting == 0)
        limiter.release()
        limiter.release()
        #expect(limiter.inUse == 0)
    }

    @Test func releaseHandsOffInArrivalOrder() async {
        let limiter = ConcurrencyLimiter(limit: 1)
        #expect(await limiter.acquire(timeout: .seconds(1)))
        let order = Recorder<Int>()
        var tasks: [Task<Bool, Never>] = []
        for index in 0..<4 {
            tasks.append(Task {
                let acquired = await limiter.acquire(timeout: .seconds(30))
                if acquired { order.append(index) }
                return acquired
            })
            // Each must be queued before the next arrives, so the arrival order is known.
            #expect(await eventually { limiter.waiting == index + 1 })
        }
        for released in 1...4 {
            limiter.release()
            #expect(await eventually { order.all.count == released })
            #expect(limiter.inUse == 1, "the permit changed hands")
            #expect(limiter.waiting == 4 - released)
        }
        #expect(order.all == [0, 1, 2, 3])
        for task in tasks { #expect(await task.value) }
        limiter.release()
        #expect(limiter.inUse == 0)
    }

    @Test func newcomersDoNotOvertakeTheQueue() async {
        let limiter = ConcurrencyLimiter(limit: 1)
        #expect(await limiter.acquire(timeout: .seconds(1)))
        let waiter = Task { await limiter.acquire(timeout: .seconds(30)) }
        #expect(await eventually { limiter.waiting == 1 })
        limiter.release()
        // The permit went to the waiter, not to the pool, so a newcomer finds none.
        #expect(await limiter.acquire(timeout: .milliseconds(10)) == false)
        #expect(await waiter.value)
        limiter.release()
        #expect(limiter.inUse == 0)
    }

    @Test func cancellationEndsTheWaitWithoutAPermit() async {
        let limiter = ConcurrencyLimiter(limit: 1)
        #expect(await limiter.acquire(timeout: .seconds(1)))
        let waiter = Task { await limiter.acquire(timeout: .seconds(30)) }
        #expect(await eventually { limiter.waiting == 1 })
        waiter.cancel()
        #expect(await waiter.value == false)
        #expect(limiter.waiting == 0)
        #expect(limiter.inUse == 1)
        limiter.release()
        #expect(limiter.inUse == 0, "nothing was handed to the cancelled waiter")
    }

    @Test func alreadyCancelledTaskGetsNothing() async {
        let limiter = ConcurrencyLimiter(limit: 1)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await limiter.acquire(timeout: .seconds(1))
        }
        #expect(await task.value == false)
        #expect(limiter.inUse == 0)
    }

    /// Both waiters are queued (asserted) before the quick one times out, however slow the
    /// machine: the test cannot pass without a release skipping a timed-out waiter ahead.
    @Test(.timeLimit(.minutes(5)))
    func timedOutWaiterIsSkippedByTheNextRelease() async {
        let (fire, fired) = AsyncStream.makeStream(of: Void.self)
        let limiter = ConcurrencyLimiter(limit: 1) { duration in
            guard duration == .seconds(2) else { return try await Task.sleep(for: duration) }
            for await _ in fire { return }
        }
        #expect(await limiter.acquire(timeout: .seconds(1)))
        let quick = Task { await limiter.acquire(timeout: .seconds(2)) }
        #expect(await eventually { limiter.waiting == 1 })
        let patient = Task { await limiter.acquire(timeout: .seconds(3600)) }
        #expect(await eventually { limiter.waiting == 2 }, "the patient waiter queued behind the quick one")
        fired.yield()
        #expect(await quick.value == false)
        #expect(limiter.waiting == 1, "the timed-out waiter left the queue")
        #expect(limiter.inUse == 1)
        limiter.release()
        #expect(await patient.value)
        limiter.release()
        #expect(limiter.inUse == 0)
        #expect(limiter.waiting == 0)
    }

    @Test func cancelledWaiterAheadIsSkippedByTheNextRelease() async {
        let limiter = ConcurrencyLimiter(limit: 1)
        #expect(await limiter.acquire(timeout: .seconds(1)))
        let ahead = Task { await limiter.acquire(timeout: .seconds(30)) }
        #expect(await eventually { limiter.waiting == 1 })
        let behind = Task { await limiter.acquire(timeout: .seconds(30)) }
        #expect(await eventually { limiter.waiting == 2 })
        ahead.cancel()
        #expect(await ahead.value == false)
        limiter.release()
        #expect(await behind.value)
        #expect(limiter.inUse == 1)
        limiter.release()
        #expect(limiter.inUse == 0)
    }

    @Test(arguments: [Duration.zero, .milliseconds(-5)])
    func nonPositiveTimeoutDoesNotWait(_ timeout: Duration) async {
        let limiter = ConcurrencyLimiter(limit: 1)
        #expect(await limiter.acquire(timeout: timeout), "a free permit is still taken")
        #expect(await limiter.acquire(timeout: timeout) == false)
        #expect(limiter.waiting == 0)
    }

    @Test(arguments: [0, -4])
    func zeroOrNegativeLimitIsUnlimited(limit: Int) async {
        let limiter = ConcurrencyLimiter(limit: limit)
        #expect(limiter.limit == 0)
        for _ in 0..<100 { #expect(await limiter.acquire(timeout: .zero)) }
        #expect(limiter.inUse == 100)
        for _ in 0..<100 { limiter.release() }
        limiter.release()
        #expect(limiter.inUse == 0, "an extra release never goes below zero")
    }

    @Test func absurdTimeoutDoesNotTrap() async {
        let limiter = ConcurrencyLimiter(limit: 1)
        #expect(await limiter.acquire(timeout: .seconds(1)))
        let waiter = Task { await limiter.acquire(timeout: .seconds(Int64.max)) }
        #expect(await eventually { limiter.waiting == 1 })
        limiter.release()
        #expect(await waiter.value)
    }

    @Test func thousandConcurrentCyclesLeaveNothingHeld() async {
        let limiter = ConcurrencyLimiter(limit: 3)
        let holders = NIOLockedValueBox((current: 0, peak: 0))
        let acquired = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<1000 {
                group.addTask {
                    guard await limiter.acquire(timeout: .seconds(30)) else { return false }
                    holders.withLockedValue { $0.current += 1; $0.peak = max($0.peak, $0.current) }
                    await Task.yield()
                    holders.withLockedValue { $0.current -= 1 }
                    limiter.release()
                    return true
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(acquired == 1000)
        #expect(holders.withLockedValue { $0.peak } <= 3)
        #expect(limiter.inUse == 0)
        #expect(limiter.waiting == 0)
    }

    @Test func timeoutsAndCancellationsRacingHandOffsLeakNothing() async {
        let limiter = ConcurrencyLimiter(limit: 2)
        let holders = NIOLockedValueBox((current: 0, peak: 0))
        var rng = SplitMix64(seed: 42)
        var tasks: [Task<Void, Never>] = []
        for index in 0..<1000 {
            let timeout = Duration.microseconds(Int.random(in: 0...3000, using: &rng))
            tasks.append(Task {
                guard await limiter.acquire(timeout: timeout) else { return }
                holders.withLockedValue { $0.current += 1; $0.peak = max($0.peak, $0.current) }
                await Task.yield()
                holders.withLockedValue { $0.current -= 1 }
                limiter.release()
            })
            if index % 7 == 0 { tasks[Int.random(in: 0...index, using: &rng)].cancel() }
        }
        for task in tasks { await task.value }
        #expect(holders.withLockedValue { $0.peak } <= 2)
        #expect(limiter.inUse == 0)
        #expect(limiter.waiting == 0)
    }
}
