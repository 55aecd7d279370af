import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Resilience
import TestSupport
import Testing
@testable import Relay

final class FakeConnection: PooledConnection {
    let id: Int
    let tokenExpiresAt: ContinuousClock.Instant
    let eventLoop: (any EventLoop)?
    let eventLoopID: ObjectIdentifier?
    private let state = NIOLockedValueBox((active: true, closed: false, quit: false))

    /// `loop`: a stand-in for an event loop, for tests where only its identity matters.
    init(id: Int, tokenExpiresAt: ContinuousClock.Instant, eventLoop: (any EventLoop)? = nil, loop: LoopToken? = nil) {
        self.id = id
        self.tokenExpiresAt = tokenExpiresAt
        self.eventLoop = eventLoop
        eventLoopID = loop?.id ?? eventLoop.map { ObjectIdentifier($0) }
    }

    var isActive: Bool { state.withLockedValue { $0.active } }
    var wasClosed: Bool { state.withLockedValue { $0.closed || $0.quit } }
    func drop() { state.withLockedValue { $0.active = false } }
    func close() { state.withLockedValue { $0.closed = true; $0.active = false } }
    func quit() async { state.withLockedValue { $0.quit = true; $0.active = false } }
}

/// A pool with a hand-driven clock and an opener that counts.
final class PoolFixture: Sendable {
    let clock = NIOLockedValueBox(ContinuousClock.now)
    let opened = NIOLockedValueBox([FakeConnection]())
    let failNextOpen = NIOLockedValueBox(false)
    let tokenLifetime: Duration
    let pool: UpstreamPool<FakeConnection>

    /// `timeouts`: where acquire timeouts fire; the pool's event loop (real time) unless given.
    init(maxConnections: Int = 2, maxMessages: Int = 100, acquireTimeout: Duration = .seconds(5), tokenLifetime: Duration = .seconds(3600),
         timeouts: (any TimeoutScheduler)? = nil) {
        var configuration = UpstreamPool<FakeConnection>.Configuration(maxConnections: maxConnections, maxMessagesPerConnection: maxMessages)
        configuration.acquireTimeout = acquireTimeout
        configuration.idleTimeout = .seconds(300)
        configuration.tokenExpirySafety = .seconds(60)
        self.tokenLifetime = tokenLifetime
        let clock = clock
        let opened = opened
        let failNextOpen = failNextOpen
        pool = UpstreamPool(configuration: configuration, timerLoop: MultiThreadedEventLoopGroup.singleton.next(), now: { clock.withLockedValue { $0 } }, timeouts: timeouts) { loop async throws(RelayFailure) -> FakeConnection in
            if failNextOpen.withLockedValue({ value in defer { value = false }; return value }) {
                throw RelayFailure.upstreamUnreachable("refused")
            }
            return opened.withLockedValue { list in
                let connection = FakeConnection(id: list.count, tokenExpiresAt: clock.withLockedValue { $0 } + tokenLifetime, eventLoop: loop)
                list.append(connection)
                return connection
            }
        }
    }

    var openCount: Int { opened.withLockedValue { $0.count } }
    func advance(_ duration: Duration) { clock.withLockedValue { $0 += duration } }
}

@Suite struct UpstreamPoolTests {
    @Test func connectionsOnTheCallersEventLoopComeFirst() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loopA = group.next(), loopB = group.next()
        #expect(loopA !== loopB)
        let fixture = PoolFixture(maxConnections: 2)
        let onA = try await fixture.pool.acquire(preferring: loopA)
        #expect(onA.connection.eventLoop === loopA)
        fixture.pool.release(onA, reusable: true)
        // Under the cap, a session on B gets its own connection on B rather than A's idle one.
        let onB = try await fixture.pool.acquire(preferring: loopB)
        #expect(onB.connection.id == 1)
        #expect(onB.connection.eventLoop === loopB)
        fixture.pool.release(onB, reusable: true)
        #expect(try await fixture.pool.acquire(preferring: loopA).connection.id == 0)
        #expect(try await fixture.pool.acquire(preferring: loopA).connection.id == 1)
        #expect(fixture.openCount == 2)
        try await group.shutdownGracefully()
    }

    @Test func atTheCapAnIdleConnectionOnAnotherLoopIsLent() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loopA = group.next(), loopB = group.next()
        let fixture = PoolFixture(maxConnections: 1)
        fixture.pool.release(try await fixture.pool.acquire(preferring: loopA), reusable: true)
        let lease = try await fixture.pool.acquire(preferring: loopB)
        #expect(lease.connection.id == 0)
        #expect(lease.connection.eventLoop === loopA)
        #expect(fixture.openCount == 1)
        try await group.shutdownGracefully()
    }

    @Test func idleConnectionsAreReused() async throws {
        let fixture = PoolFixture()
        for _ in 0..<5 {
            let lease = try await fixture.pool.acquire()
            #expect(lease.connection.id == 0)
            fixture.pool.release(lease, reusable: true)
        }
        #expect(fixture.openCount == 1)
    }

    @Test func atTheCapATransactionWaitsForARelease() async throws {
        let fixture = PoolFixture(maxConnections: 2)
        let first = try await fixture.pool.acquire()
        let second = try await fixture.pool.acquire()
        #expect(first.connection.id != second.connection.id)
        async let third = fixture.pool.acquire()
        #expect(await eventually { fixture.pool.counts.waiting == 1 })
        fixture.pool.release(first, reusable: true)
        #expect(try await third.connection.id == first.connection.id)
        #expect(fixture.openCount == 2)
        fixture.pool.release(second, reusable: true)
    }

    @Test func waitingIsBoundedAndEndsInPoolExhausted() async throws {
        let fixture = PoolFixture(maxConnections: 1, acquireTimeout: .milliseconds(100))
        let held = try await fixture.pool.acquire()
        await #expect(throws: RelayFailure.poolExhausted) { _ = try await fixture.pool.acquire() }
        #expect(fixture.pool.counts.waiting == 0)
        fixture.pool.release(held, reusable: true)
        let again = try await fixture.pool.acquire()
        #expect(again.connection.id == held.connection.id)
    }

    /// The waiter is queued before the release, so only the hand-off of the freed slot can serve
    /// it (a waiter arriving after the release would find a free slot and pass without it). The
    /// acquire timeout is longer than any test run: a lost hand-off fails as poolExhausted or
    /// by the time limit, never by luck.
    @Test(.timeLimit(.minutes(5)))
    func aBrokenConnectionFreesItsSlotForAWaiter() async throws {
        let fixture = PoolFixture(maxConnections: 1, acquireTimeout: .seconds(3600))
        let held = try await fixture.pool.acquire()
        async let waiter = fixture.pool.acquire()
        #expect(await eventually { fixture.pool.counts.waiting == 1 })
        fixture.pool.release(held, reusable: false)
        #expect(held.connection.wasClosed)
        #expect(try await waiter.connection.id == 1)
        #expect(fixture.pool.counts.waiting == 0)
        #expect(fixture.openCount == 2)
    }

    @Test func connectionsRetireAfterTheirMessageBudget() async throws {
        let fixture = PoolFixture(maxMessages: 3)
        var lease = try await fixture.pool.acquire()
        lease.messagesSent = 3
        fixture.pool.release(lease, reusable: true)
        #expect(lease.connection.wasClosed)
        #expect(try await fixture.pool.acquire().connection.id == 1)
    }

    @Test func connectionsRetireBeforeTheirTokenExpires() async throws {
        let fixture = PoolFixture(tokenLifetime: .seconds(600))
        let lease = try await fixture.pool.acquire()
        fixture.pool.release(lease, reusable: true)
        for _ in 0..<2 {
            fixture.advance(.seconds(250))   // idle less than 300 s each time
            let reused = try await fixture.pool.acquire()
            #expect(reused.connection.id == 0)
            fixture.pool.release(reused, reusable: true)
        }
        fixture.advance(.seconds(50))   // 550 s: inside the 60 s safety margin of the 600 s token
        let renewed = try await fixture.pool.acquire()
        #expect(renewed.connection.id == 1)
        #expect(lease.connection.wasClosed)
    }

    @Test func idleConnectionsAreSweptAndDeadOnesSkipped() async throws {
        let fixture = PoolFixture()
        let first = try await fixture.pool.acquire()
        let second = try await fixture.pool.acquire()
        fixture.pool.release(first, reusable: true)
        fixture.pool.release(second, reusable: true)
        second.connection.drop()
        #expect(try await fixture.pool.acquire().connection.id == first.connection.id)
        let held = try await fixture.pool.acquire()
        #expect(held.connection.id == 2)
        fixture.pool.release(held, reusable: true)
        fixture.advance(.seconds(301))
        fixture.pool.sweep()
        #expect(held.connection.wasClosed)
        #expect(fixture.pool.counts.idle == 0)
    }

    @Test func aFailedOpenGivesTheSlotBack() async throws {
        let fixture = PoolFixture(maxConnections: 1)
        fixture.failNextOpen.withLockedValue { $0 = true }
        await #expect(throws: RelayFailure.upstreamUnreachable("refused")) { _ = try await fixture.pool.acquire() }
        #expect(try await fixture.pool.acquire().connection.id == 0)
    }

    @Test func closingQuitsIdleConnectionsAndTurnsWaitersAway() async throws {
        let fixture = PoolFixture(maxConnections: 1)
        let held = try await fixture.pool.acquire()
        async let waiter: Void = {
            await #expect(throws: RelayFailure.shuttingDown) { _ = try await fixture.pool.acquire() }
        }()
        // Queued before the close, so it is the close that turns it away (a later arrival would
        // be refused at the door and pass without it).
        #expect(await eventually { fixture.pool.counts.waiting == 1 })
        await fixture.pool.close()
        await waiter
        fixture.pool.release(held, reusable: true)
        #expect(held.connection.wasClosed)
        await #expect(throws: RelayFailure.shuttingDown) { _ = try await fixture.pool.acquire() }
    }
}
