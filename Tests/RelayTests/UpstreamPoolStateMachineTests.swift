import Resilience
import Testing
@testable import Relay

/// The pool's decisions, event by event: no sockets, tasks, sleeps or event loops.
@Suite struct UpstreamPoolStateMachineTests {
    @Test func theCapBoundsOpenConnectionsAndQueuesTheRest() throws {
        var fixture = MachineFixture(maxConnections: 2)
        #expect(fixture.acquire().action.decision.opens)
        #expect(fixture.acquire().action.decision.opens)
        let third = fixture.acquire()
        #expect(third.action.decision.waits)
        #expect(fixture.machine.counts == (idle: 0, busy: 2, waiting: 1))
    }

    @Test func theCallersLoopComesFirstThenANewConnectionThereThenAnyIdle() throws {
        let loopA = LoopToken(), loopB = LoopToken()
        var fixture = MachineFixture(maxConnections: 2)
        let onA = try fixture.lease(on: loopA)
        #expect(fixture.machine.release(onA, reusable: true, now: fixture.now).keptIdle)
        // Under the cap, a caller on B gets a connection of its own rather than A's idle one.
        #expect(fixture.acquire(on: loopB).action.decision.opens)
        let onB = fixture.open(on: loopB)
        #expect(fixture.machine.release(onB, reusable: true, now: fixture.now).keptIdle)
        #expect(fixture.acquire(on: loopA).action.decision.lease?.connection.id == 0)
        // At the cap, A's caller is lent B's idle connection rather than waiting.
        #expect(fixture.acquire(on: loopA).action.decision.lease?.connection.id == 1)
        #expect(fixture.opened.count == 2)
    }

    /// The relay's fast path takes only a fit idle connection on the caller's own loop; for
    /// anything else (another loop's, one past its idle time, none at all) it goes to `acquire`.
    @Test func takeIdleLendsOnlyAFitConnectionOnTheCallersLoop() throws {
        let loopA = LoopToken(), loopB = LoopToken()
        var fixture = MachineFixture(maxConnections: 2)
        #expect(fixture.machine.takeIdle(on: loopA.id, now: fixture.now) == nil)
        let onA = try fixture.lease(on: loopA)
        _ = fixture.machine.release(onA, reusable: true, now: fixture.now)
        #expect(fixture.machine.takeIdle(on: loopB.id, now: fixture.now) == nil)
        fixture.advance(.seconds(3))
        let lent = fixture.machine.takeIdle(on: loopA.id, now: fixture.now)
        let taken = try #require(lent)
        #expect(taken.connection.id == 0 && taken.idleFor == .seconds(3))
        #expect(fixture.machine.counts == (idle: 0, busy: 1, waiting: 0))
        _ = fixture.machine.release(taken, reusable: true, now: fixture.now)
        fixture.advance(.seconds(301))
        #expect(fixture.machine.takeIdle(on: loopA.id, now: fixture.now) == nil, "past its idle time")
    }

    @Test func withoutAPreferenceTheLatestIdleConnectionIsLent() throws {
        var fixture = MachineFixture(maxConnections: 2)
        let first = try fixture.lease()
        let second = try fixture.lease()
        _ = fixture.machine.release(first, reusable: true, now: fixture.now)
        _ = fixture.machine.release(second, reusable: true, now: fixture.now)
        fixture.advance(.seconds(7))
        let lease = try #require(fixture.acquire().action.decision.lease)
        #expect(lease.connection.id == 1)
        #expect(lease.idleFor == .seconds(7))
        #expect(fixture.open().idleFor == nil, "a new connection was never idle")
    }

    @Test func leasesCarryTheirMessageCountAndPendingReset() throws {
        var fixture = MachineFixture()
        var lease = try fixture.lease()
        lease.messagesSent = 4
        lease.needsReset = true
        _ = fixture.machine.release(lease, reusable: true, now: fixture.now)
        let again = try #require(fixture.acquire().action.decision.lease)
        #expect(again.messagesSent == 4)
        #expect(again.needsReset)
    }

    @Test func aConnectionAtItsMessageBudgetIsClosedOnRelease() throws {
        var fixture = MachineFixture(maxMessages: 3)
        var lease = try fixture.lease()
        lease.messagesSent = 3
        #expect(fixture.machine.release(lease, reusable: true, now: fixture.now).closed?.connection.id == 0)
        #expect(fixture.machine.counts == (idle: 0, busy: 0, waiting: 0))
    }

    @Test func unreusableAndDeadConnectionsAreClosedOnRelease() throws {
        var fixture = MachineFixture()
        let broken = try fixture.lease()
        #expect(fixture.machine.release(broken, reusable: false, now: fixture.now).closed != nil)
        let dead = try fixture.lease()
        dead.connection.drop()
        #expect(fixture.machine.release(dead, reusable: true, now: fixture.now).closed != nil)
    }

    @Test func idleConnectionsUnfitForReuseAreClosedOnTheWay() throws {
        var fixture = MachineFixture(maxConnections: 3, tokenLifetime: .seconds(600))
        let dead = try fixture.lease()
        let expiring = try fixture.lease()
        for lease in [dead, expiring] { _ = fixture.machine.release(lease, reusable: true, now: fixture.now) }
        dead.connection.drop()
        fixture.advance(.seconds(541))   // inside the 60 s safety margin of the 600 s token
        let action = fixture.acquire().action
        #expect(action.stale.map(\.id).sorted() == [0, 1])
        #expect(action.decision.opens)
        #expect(fixture.machine.counts == (idle: 0, busy: 1, waiting: 0))
    }

    @Test func sweepClosesConnectionsIdlePastTheTimeout() throws {
        var fixture = MachineFixture()
        let early = try fixture.lease()
        let late = try fixture.lease()
        _ = fixture.machine.release(early, reusable: true, now: fixture.now)
        fixture.advance(.seconds(100))
        _ = fixture.machine.release(late, reusable: true, now: fixture.now)
        fixture.advance(.seconds(200))
        #expect(fixture.machine.sweep(now: fixture.now).map(\.id) == [0], "idle 300 s: at the timeout")
        #expect(fixture.machine.counts == (idle: 1, busy: 0, waiting: 0))
    }

    @Test func releasesHandOffToWaitersInArrivalOrder() throws {
        var fixture = MachineFixture(maxConnections: 1)
        var held = try fixture.lease()
        held.messagesSent = 2
        let waiters = (0..<3).map { _ in fixture.acquire().id }
        for waiter in waiters {
            let handOff = try #require(fixture.machine.release(held, reusable: true, now: fixture.now).handOff)
            #expect(handOff.to == waiter)
            #expect(handOff.lease.idleFor == .zero)
            #expect(handOff.lease.messagesSent == 2)
            held = handOff.lease
        }
        #expect(fixture.machine.counts == (idle: 0, busy: 1, waiting: 0))
        #expect(fixture.machine.release(held, reusable: true, now: fixture.now).keptIdle)
    }

    @Test func aClosedConnectionHandsItsSlotToTheLongestWaiter() throws {
        var fixture = MachineFixture(maxConnections: 1)
        let held = try fixture.lease()
        let first = fixture.acquire().id
        _ = fixture.acquire()
        let closed = try #require(fixture.machine.release(held, reusable: false, now: fixture.now).closed)
        #expect(closed.slotTo == first)
        #expect(fixture.machine.counts == (idle: 0, busy: 1, waiting: 1), "the slot is reserved for the waiter")
    }

    @Test func aFailedOpenHandsItsSlotToTheLongestWaiterOrFreesIt() {
        var fixture = MachineFixture(maxConnections: 1)
        #expect(fixture.acquire().action.decision.opens)
        let waiter = fixture.acquire().id
        #expect(fixture.machine.openFailed(now: fixture.now) == waiter)
        #expect(fixture.machine.counts == (idle: 0, busy: 1, waiting: 0))
        #expect(fixture.machine.openFailed(now: fixture.now) == nil)
        #expect(fixture.machine.counts == (idle: 0, busy: 0, waiting: 0))
        #expect(fixture.acquire().action.decision.opens)
    }

    @Test func lowerCapRunsOneShortUntilItRestores() throws {
        var fixture = MachineFixture(maxConnections: 3)
        let leases = [try fixture.lease(), try fixture.lease(), try fixture.lease()]
        _ = fixture.machine.release(leases[0], reusable: true, now: fixture.now)
        let surplus = fixture.machine.lowerCap(for: .seconds(60), now: fixture.now)
        #expect(surplus.map(\.id) == [0], "the idle connection over the new cap closes now")
        #expect(fixture.machine.currentCap(now: fixture.now) == 2)
        #expect(fixture.machine.counts == (idle: 0, busy: 2, waiting: 0))
        #expect(fixture.acquire().action.decision.waits)
        fixture.advance(.seconds(30))
        #expect(fixture.machine.lowerCap(for: .seconds(60), now: fixture.now).isEmpty)
        #expect(fixture.machine.currentCap(now: fixture.now) == 1)
        // Over the cap, a release closes the connection and its slot stays free.
        let closed = try #require(fixture.machine.release(leases[1], reusable: true, now: fixture.now).closed)
        #expect(closed.slotTo == nil)
        fixture.advance(.seconds(59))
        #expect(fixture.machine.currentCap(now: fixture.now) == 1, "a further refusal extended the period")
        fixture.advance(.seconds(1))
        #expect(fixture.machine.currentCap(now: fixture.now) == 3)
    }

    @Test func lowerCapNeverGoesBelowOne() {
        var fixture = MachineFixture(maxConnections: 2)
        for _ in 0..<5 { _ = fixture.machine.lowerCap(for: .seconds(60), now: fixture.now) }
        #expect(fixture.machine.currentCap(now: fixture.now) == 1)
        #expect(fixture.acquire().action.decision.opens)
    }

    @Test func lowerCapToAnotherReplicasCapNeverRaisesItNorEndsItEarly() throws {
        var fixture = MachineFixture(maxConnections: 4)
        let leases = [try fixture.lease(), try fixture.lease(), try fixture.lease()]
        _ = fixture.machine.release(leases[0], reusable: true, now: fixture.now)
        let surplus = fixture.machine.lowerCap(to: 2, until: fixture.now + .seconds(60), now: fixture.now)
        #expect(surplus.map(\.id) == [0], "the idle connection over the new cap closes now")
        #expect(fixture.machine.currentCap(now: fixture.now) == 2)
        #expect(fixture.machine.lowerCap(to: 3, until: fixture.now + .seconds(600), now: fixture.now).isEmpty)
        #expect(fixture.machine.currentCap(now: fixture.now) == 2, "a higher cap lifts nothing")
        _ = fixture.machine.lowerCap(to: 2, until: fixture.now + .seconds(10), now: fixture.now)
        fixture.advance(.seconds(59))
        #expect(fixture.machine.currentCap(now: fixture.now) == 2, "an earlier end shortens nothing")
        _ = fixture.machine.lowerCap(to: 0, until: fixture.now + .seconds(30), now: fixture.now)
        #expect(fixture.machine.currentCap(now: fixture.now) == 1, "never below one")
        fixture.advance(.seconds(29))
        #expect(fixture.machine.currentCap(now: fixture.now) == 1, "a later end extends")
        fixture.advance(.seconds(1))
        #expect(fixture.machine.currentCap(now: fixture.now) == 4)
        #expect(fixture.machine.lowerCap(to: 1, until: fixture.now, now: fixture.now).isEmpty)
        #expect(fixture.machine.currentCap(now: fixture.now) == 4, "one that has ended changes nothing")
    }

    @Test func aRetiredPoolKeepsNothingIdleAndStillServesItsWaiters() throws {
        var fixture = MachineFixture(maxConnections: 2)
        let first = try fixture.lease()
        let second = try fixture.lease()
        let waiter = fixture.acquire().id
        #expect(fixture.machine.retire().isEmpty)
        let closed = try #require(fixture.machine.release(first, reusable: true, now: fixture.now).closed)
        #expect(closed.slotTo == waiter, "the waiter opens a connection of its own")
        #expect(fixture.machine.release(second, reusable: true, now: fixture.now).closed?.slotTo == nil)
        #expect(fixture.machine.counts == (idle: 0, busy: 1, waiting: 0))
    }

    @Test func retireReturnsIdleConnectionsForQuit() throws {
        var fixture = MachineFixture(maxConnections: 2)
        let lease = try fixture.lease()
        _ = fixture.machine.release(lease, reusable: true, now: fixture.now)
        #expect(fixture.machine.retire().map(\.id) == [0])
        #expect(fixture.machine.counts == (idle: 0, busy: 0, waiting: 0))
    }

    @Test func closeQuitsIdleConnectionsTurnsWaitersAwayAndRefusesNewcomers() throws {
        var fixture = MachineFixture(maxConnections: 2)
        let idle = try fixture.lease()
        let busy = try fixture.lease()
        _ = fixture.machine.release(idle, reusable: true, now: fixture.now)
        #expect(fixture.acquire().action.decision.lease != nil)
        let waiters = [fixture.acquire().id, fixture.acquire().id]
        let action = fixture.machine.close()
        #expect(action.turnAway == waiters)
        #expect(action.quit.isEmpty)
        #expect(fixture.acquire().action.decision.failure == .shuttingDown)
        #expect(fixture.machine.release(busy, reusable: true, now: fixture.now).closed?.slotTo == nil)
        #expect(fixture.machine.counts.waiting == 0)
    }

    @Test func aWaiterThatTimesOutLeavesTheQueueAndTheNextReleaseSkipsIt() throws {
        var fixture = MachineFixture(maxConnections: 1)
        let held = try fixture.lease()
        let quick = fixture.acquire().id
        let patient = fixture.acquire().id
        #expect(fixture.machine.waiterTimedOut(quick) == .poolExhausted)
        #expect(fixture.machine.counts.waiting == 1)
        #expect(fixture.machine.release(held, reusable: true, now: fixture.now).handOff?.to == patient)
    }

    @Test func aCancelledWaiterHearsPoolExhaustedAndIsSkipped() throws {
        var fixture = MachineFixture(maxConnections: 1)
        let held = try fixture.lease()
        let cancelled = fixture.acquire().id
        #expect(fixture.machine.waiterCancelled(cancelled) == .poolExhausted)
        #expect(fixture.machine.release(held, reusable: true, now: fixture.now).keptIdle)
    }

    /// Timeout or cancellation after the grant: the grant stands and the waiter hears nothing else.
    @Test func aGrantWinsOverALaterTimeoutOrCancellation() throws {
        var fixture = MachineFixture(maxConnections: 1)
        let held = try fixture.lease()
        let waiter = fixture.acquire().id
        let handOff = try #require(fixture.machine.release(held, reusable: true, now: fixture.now).handOff)
        #expect(handOff.to == waiter)
        #expect(fixture.machine.waiterTimedOut(waiter) == nil)
        #expect(fixture.machine.waiterCancelled(waiter) == nil)
        #expect(fixture.machine.counts == (idle: 0, busy: 1, waiting: 0))
    }

    /// An abandonment for an id the machine never queued (a caller cancelled before it arrived)
    /// changes nothing.
    @Test func abandoningAnUnknownWaiterChangesNothing() throws {
        var fixture = MachineFixture(maxConnections: 1)
        let held = try fixture.lease()
        #expect(fixture.machine.abandon(WaiterID(99), because: .cancelled) == nil)
        #expect(fixture.machine.abandon(WaiterID(99), because: .timedOut) == nil)
        let waiter = fixture.acquire().id
        #expect(fixture.machine.release(held, reusable: true, now: fixture.now).handOff?.to == waiter)
    }
}
