import NIOConcurrencyHelpers
import Testing
import Resilience
import TestSupport

/// Tokens handed out one at a time; callers beyond the supply queue.
struct TokenSupply: WaitingState {
    var free = 0
    var waiters = WaiterQueue<Void>()

    mutating func abandon(_ id: WaiterID, because reason: WaitAbandonment) -> WaitAbandonment? {
        waiters.remove(id) == nil ? nil : reason
    }
}

typealias TokenRoom = WaitingRoom<TokenSupply, Int>

extension TokenRoom {
    func take(timeout: Duration = .seconds(30), afterAdmission: () -> Void = {}) async -> Result<Int, WaitAbandonment> {
        do {
            let token = try await wait(timeout: timeout, admit: { supply, id in
                if supply.free > 0 {
                    supply.free -= 1
                    return .now(.success(0))
                }
                supply.waiters.append(id, ())
                return .wait
            }, afterAdmission: afterAdmission)
            return .success(token)
        } catch {
            return .failure(error)
        }
    }

    /// Hands `token` to the longest waiter; false if nobody waits.
    @discardableResult
    func grantNext(_ token: Int) -> Bool {
        update { supply, waiters in
            guard let next = supply.waiters.popFirst() else { return false }
            waiters.grant(token, to: next.id)
            return true
        }
    }

    var waiting: Int { read { $0.waiters.count } }
}

/// Timeouts that fire only by hand and ignore cancellation, to stage a timeout arriving after
/// the grant it lost to.
final class StubbornTimeouts: TimeoutScheduler {
    private let fires = NIOLockedValueBox([@Sendable () -> Void]())

    var count: Int { fires.withLockedValue { $0.count } }

    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> ScheduledTimeout {
        fires.withLockedValue { $0.append(fire) }
        return ScheduledTimeout {}
    }

    func fire(_ index: Int) {
        fires.withLockedValue { $0[index] }()
    }
}

/// Waits that end by grant, timeout or cancellation, with time moved by hand: nothing here
/// sleeps or reads the wall clock (`eventually` only polls for a task to reach its wait).
@Suite struct WaitingRoomTests {
    @Test func aFreeTokenIsTakenWithoutWaiting() async {
        let clock = ManualClock()
        let room = TokenRoom(TokenSupply(free: 1), timeouts: clock)
        #expect(await room.take() == .success(0))
        #expect(clock.pendingTimeouts == 0)
    }

    @Test func theWaitTimesOutWhenTheClockGetsThere() async {
        let clock = ManualClock()
        let room = TokenRoom(TokenSupply(), timeouts: clock)
        let waiter = Task { await room.take(timeout: .seconds(5)) }
        #expect(await eventually { clock.pendingTimeouts == 1 })
        clock.advance(by: .seconds(4))
        #expect(room.waiting == 1)
        clock.advance(by: .seconds(1))
        #expect(await waiter.value == .failure(.timedOut))
        #expect(room.waiting == 0)
    }

    @Test func aGrantEndsTheWaitAndWithdrawsItsTimeout() async {
        let clock = ManualClock()
        let room = TokenRoom(TokenSupply(), timeouts: clock)
        let waiter = Task { await room.take() }
        #expect(await eventually { clock.pendingTimeouts == 1 })
        #expect(room.grantNext(7))
        #expect(await waiter.value == .success(7))
        #expect(clock.pendingTimeouts == 0)
    }

    @Test func cancellationEndsTheWaitAtOnce() async {
        let clock = ManualClock()
        let room = TokenRoom(TokenSupply(), timeouts: clock)
        let waiter = Task { await room.take() }
        #expect(await eventually { clock.pendingTimeouts == 1 })
        waiter.cancel()
        #expect(await waiter.value == .failure(.cancelled))
        #expect(room.waiting == 0)
        #expect(clock.pendingTimeouts == 0)
        #expect(room.grantNext(1) == false, "nothing is left to hand to the cancelled waiter")
    }

    @Test func aTimeoutThatFiresAfterTheGrantChangesNothing() async {
        let timeouts = StubbornTimeouts()
        let room = TokenRoom(TokenSupply(), timeouts: timeouts)
        let first = Task { await room.take() }
        #expect(await eventually { timeouts.count == 1 })
        #expect(room.grantNext(7))
        timeouts.fire(0)
        #expect(await first.value == .success(7))
        let second = Task { await room.take() }
        #expect(await eventually { timeouts.count == 2 })
        timeouts.fire(0)
        #expect(room.waiting == 1, "the first waiter's stale timeout leaves the second alone")
        #expect(room.grantNext(8))
        #expect(await second.value == .success(8))
    }

    @Test func aWaiterThatTimedOutIsSkippedByTheNextGrant() async {
        let clock = ManualClock()
        let room = TokenRoom(TokenSupply(), timeouts: clock)
        let quick = Task { await room.take(timeout: .seconds(1)) }
        #expect(await eventually { room.waiting == 1 && clock.pendingTimeouts == 1 })
        let patient = Task { await room.take(timeout: .seconds(3600)) }
        #expect(await eventually { room.waiting == 2 && clock.pendingTimeouts == 2 })
        clock.advance(by: .seconds(1))
        #expect(await quick.value == .failure(.timedOut))
        #expect(room.grantNext(9))
        #expect(await patient.value == .success(9))
    }

    @Test func aCallerCancelledBeforeItArrivesIsNeverQueued() async {
        let clock = ManualClock()
        let room = TokenRoom(TokenSupply(), timeouts: clock)
        let result = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await room.take()
        }.value
        #expect(result == .failure(.cancelled))
        #expect(room.waiting == 0)
        #expect(clock.pendingTimeouts == 0)
    }

    /// Between admission and parking: a grant is kept for the caller, a cancellation ends the wait.
    @Test func aGrantBeforeTheCallerParksIsKept() async {
        let clock = ManualClock()
        let room = TokenRoom(TokenSupply(), timeouts: clock)
        #expect(await room.take { room.grantNext(4) } == .success(4))
        #expect(clock.pendingTimeouts == 0)
    }

    @Test func aCancellationBeforeTheCallerParksEndsTheWait() async {
        let clock = ManualClock()
        let room = TokenRoom(TokenSupply(), timeouts: clock)
        let result = await Task {
            await room.take { withUnsafeCurrentTask { $0?.cancel() } }
        }.value
        #expect(result == .failure(.cancelled))
        #expect(room.waiting == 0)
        #expect(clock.pendingTimeouts == 0)
    }

    @Test func aZeroTimeoutNeverWaits() async {
        let clock = ManualClock()
        let room = TokenRoom(TokenSupply(), timeouts: clock)
        #expect(await room.take(timeout: .zero) == .failure(.timedOut))
        #expect(room.waiting == 0)
        #expect(clock.pendingTimeouts == 0)
    }
}

@Suite struct ConcurrencyLimiterManualClockTests {
    @Test func aWaiterTimesOutWhenTheClockSaysSo() async {
        let clock = ManualClock()
        let limiter = ConcurrencyLimiter(limit: 1, timeouts: clock)
        #expect(await limiter.acquire(timeout: .seconds(1)))
        let waiter = Task { await limiter.acquire(timeout: .seconds(10)) }
        #expect(await eventually { clock.pendingTimeouts == 1 })
        clock.advance(by: .seconds(9))
        #expect(limiter.waiting == 1)
        clock.advance(by: .seconds(1))
        #expect(await waiter.value == false)
        #expect(limiter.inUse == 1)
        #expect(limiter.waiting == 0)
    }
}
