import Resilience
import TestSupport
import Testing
@testable import Relay

/// How the pool's waits end, with timeouts fired by a `ManualClock`: no test here sleeps or
/// bounds wall time (`eventually` only polls for a task to reach its wait).
@Suite struct UpstreamPoolWaitTests {
    @Test func aWaitEndsInPoolExhaustedWhenTheClockPassesTheAcquireTimeout() async throws {
        let timeouts = ManualClock()
        let fixture = PoolFixture(maxConnections: 1, acquireTimeout: .seconds(30), timeouts: timeouts)
        let held = try await fixture.pool.acquire()
        let waiter = Task { () async -> RelayFailure? in
            do { _ = try await fixture.pool.acquire(); return nil } catch { return error as? RelayFailure }
        }
        #expect(await eventually { fixture.pool.counts.waiting == 1 && timeouts.pendingTimeouts == 1 })
        timeouts.advance(by: .seconds(29))
        #expect(fixture.pool.counts.waiting == 1)
        timeouts.advance(by: .seconds(1))
        #expect(await waiter.value == .poolExhausted)
        #expect(fixture.pool.counts.waiting == 0)
        fixture.pool.release(held, reusable: true)
        #expect(fixture.pool.counts.idle == 1, "nothing was handed to the waiter that gave up")
    }

    @Test func aCancelledAcquireReturnsAtOnceAndLeavesTheQueue() async throws {
        let timeouts = ManualClock()
        let fixture = PoolFixture(maxConnections: 1, acquireTimeout: .seconds(3600), timeouts: timeouts)
        let held = try await fixture.pool.acquire()
        let waiter = Task { () async -> RelayFailure? in
            do { _ = try await fixture.pool.acquire(); return nil } catch { return error as? RelayFailure }
        }
        #expect(await eventually { fixture.pool.counts.waiting == 1 && timeouts.pendingTimeouts == 1 })
        waiter.cancel()
        #expect(await waiter.value == .poolExhausted)
        #expect(fixture.pool.counts.waiting == 0)
        #expect(timeouts.pendingTimeouts == 0, "its timeout was withdrawn")
        fixture.pool.release(held, reusable: true)
        #expect(fixture.pool.counts.idle == 1)
    }

    @Test func anAcquireCancelledBeforeItArrivesIsNeverQueued() async throws {
        let timeouts = ManualClock()
        let fixture = PoolFixture(maxConnections: 1, timeouts: timeouts)
        let held = try await fixture.pool.acquire()
        let result = await Task { () async -> RelayFailure? in
            withUnsafeCurrentTask { $0?.cancel() }
            do { _ = try await fixture.pool.acquire(); return nil } catch { return error as? RelayFailure }
        }.value
        #expect(result == .poolExhausted)
        #expect(fixture.pool.counts.waiting == 0)
        #expect(timeouts.pendingTimeouts == 0)
        fixture.pool.release(held, reusable: true)
    }

    /// A cancelled task is still lent a connection that is free: only waiting ends early.
    @Test func aCancelledTaskIsStillLentAFreeConnection() async throws {
        let fixture = PoolFixture(maxConnections: 1, timeouts: ManualClock())
        fixture.pool.release(try await fixture.pool.acquire(), reusable: true)
        let lease = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try? await fixture.pool.acquire()
        }.value
        #expect(lease?.connection.id == 0)
    }

    @Test func aWaiterWhoseOpenFailsGivesTheSlotBack() async throws {
        let timeouts = ManualClock()
        let fixture = PoolFixture(maxConnections: 1, timeouts: timeouts)
        let held = try await fixture.pool.acquire()
        let waiter = Task { try await fixture.pool.acquire() }
        #expect(await eventually { fixture.pool.counts.waiting == 1 })
        // The broken connection frees a slot; the waiter's own open of it fails first time.
        fixture.failNextOpen.withLockedValue { $0 = true }
        fixture.pool.release(held, reusable: false)
        await #expect(throws: RelayFailure.upstreamUnreachable("refused")) { _ = try await waiter.value }
        #expect(fixture.pool.counts == (idle: 0, busy: 0, waiting: 0))
        #expect(try await fixture.pool.acquire().connection.id == 1)
    }
}
