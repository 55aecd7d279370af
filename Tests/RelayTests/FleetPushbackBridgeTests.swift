import FleetState
import PostgresTestSupport
@testable import Relay
import Resilience
import TestSupport
import Testing

/// Two replicas on one real database: what one's provider says about the account holds on the
/// other after the other's next poll, for as long as it holds on the first, and is not echoed.
@Suite("Fleet pushbacks between replicas", .enabled(if: PostgresTestServer.testsEnabled, "PostgreSQL is not installed"),
       .timeLimit(.minutes(5)))
struct FleetPushbackBridgeTests {
    @Test("a quota pause seen by A refuses B's next message with the remaining time; it ends when it ends")
    func quotaPause() async throws {
        try await withPushbackFleet { clock, replicas in
            let (a, b) = (replicas[0], replicas[1])
            a.providerSays(.quotaExhausted)
            #expect(await a.settled())
            clock.advance(by: .seconds(100))
            #expect(Self.admits(b), "nothing applies before B polls")
            await b.pushbacks.poll()
            guard case .failure(.quotaPaused(let retryAfter))? = b.limiter.admitNow() else {
                Issue.record("B admitted a message during A's quota pause")
                return
            }
            #expect(retryAfter > .seconds(1699) && retryAfter <= .seconds(1700), "\(retryAfter)")
            clock.advance(by: .seconds(1700) + .milliseconds(1))
            #expect(Self.admits(b))
            #expect(Self.admits(a))
        }
    }

    @Test("credentials breaker opened by A: B refuses new connections for the rest of the cool-down")
    func credentialsBreaker() async throws {
        try await withPushbackFleet { clock, replicas in
            let (a, b) = (replicas[0], replicas[1])
            a.credentialsRefused()
            #expect(await a.settled())
            #expect(b.limiter.credentials.state == .closed(consecutiveFailures: 0))
            await b.pushbacks.poll()
            #expect(throws: RelayFailure.credentialsFailing(retryAfter: .seconds(300))) { _ = try b.limiter.checkNewConnection() }
            clock.advance(by: .seconds(300) + .milliseconds(1))
            #expect((try? b.limiter.checkNewConnection()) == .probe)
        }
    }

    @Test("a slow-down seen by A holds B's new connections back as long")
    func slowDown() async throws {
        try await withPushbackFleet { clock, replicas in
            let (a, b) = (replicas[0], replicas[1])
            // Several: the block is the longest of their jittered delays, never near zero.
            for _ in 0..<5 { a.providerSays(.slowDown) }
            #expect(await a.settled())
            let blocked = try #require(a.limiter.slowDown.blockedFor())
            #expect(throws: Never.self) { _ = try b.limiter.checkNewConnection() }
            await b.pushbacks.poll()
            switch Result(catching: { () throws(RelayFailure) in try b.limiter.checkNewConnection() }) {
            case .failure(.throttled(let retryAfter)):
                // The database keeps milliseconds.
                #expect(retryAfter > blocked - .milliseconds(2) && retryAfter < blocked + .milliseconds(2), "\(retryAfter) \(blocked)")
            case let other:
                Issue.record("B was not held back during A's slow-down: \(other)")
            }
            #expect(b.limiter.slowDown.consecutiveSlowDowns == 0, "A's slow-downs are not B's")
            clock.advance(by: blocked + .milliseconds(2))
            #expect(b.limiter.slowDown.blockedFor() == nil)
        }
    }

    @Test("a connection cap reduced by A runs B's pool as short, until A's restores")
    func reducedCap() async throws {
        try await withPushbackFleet { clock, replicas in
            let (a, b) = (replicas[0], replicas[1])
            a.providerSays(.connectionLimit)
            a.providerSays(.connectionLimit)
            #expect(a.account.pool.currentCap == 2)
            #expect(await a.settled())
            await b.pushbacks.poll()
            #expect(b.account.pool.currentCap == 2)
            clock.advance(by: a.limiter.connectionLimitPause + .milliseconds(1))
            #expect(b.account.pool.currentCap == 4)
            #expect(a.account.pool.currentCap == 4)
        }
    }

    @Test("what B applied is not published back, and A does not apply its own")
    func noEcho() async throws {
        try await withPushbackFleet { _, replicas in
            let (a, b) = (replicas[0], replicas[1])
            a.providerSays(.quotaExhausted)
            a.providerSays(.slowDown)
            a.credentialsRefused()
            #expect(await a.settled())
            await b.pushbacks.poll()
            #expect(b.pushbacks.statistics.applied == 3)
            #expect(b.pushbacks.statistics.published == 0, "\(b.pushbacks.statistics)")
            await a.pushbacks.poll()
            #expect(a.pushbacks.statistics.applied == 0)
        }
    }

    static func admits(_ replica: PushbackRelayReplica) -> Bool {
        guard case .success(let admission)? = replica.limiter.admitNow() else { return false }
        replica.limiter.finish(admission, accepted: false)
        return true
    }
}
