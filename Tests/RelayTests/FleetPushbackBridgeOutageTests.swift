import FleetState
import PostgresTestSupport
@testable import Relay
import TestSupport
import Testing

/// The database stopped under two replicas: each goes on with its own limiters, and the
/// pushback one saw meanwhile reaches the other once the database is back. A server of the
/// test's own, since the other tests share theirs.
@Suite("Fleet pushbacks between replicas without their database", .enabled(if: PostgresTestServer.testsEnabled, "PostgreSQL is not installed"),
       .timeLimit(.minutes(5)))
struct FleetPushbackBridgeOutageTests {
    @Test("stopped: publishing and polling return, the local limiters work alone; restarted: B applies what A saw")
    func outage() async throws {
        let server = try await PostgresTestServer.start()
        defer { server.stop() }
        // A pause that outlasts every step of the clock below.
        try await withPushbackFleet(server: server, callTimeout: .seconds(2), quotaPause: .seconds(86_400 * 30)) { clock, replicas in
            let (a, b) = (replicas[0], replicas[1])
            await a.pushbacks.poll()
            await b.pushbacks.poll()
            try await server.stopServer()

            a.providerSays(.quotaExhausted)
            #expect(!FleetPushbackBridgeTests.admits(a), "A's own pause, database or not")
            #expect(await eventually { !a.pushbacks.state.isConnected })
            await b.pushbacks.poll()
            #expect(!b.pushbacks.state.isConnected)
            #expect(FleetPushbackBridgeTests.admits(b), "nothing reached B")
            b.providerSays(.slowDown)
            #expect(b.limiter.slowDown.blockedFor() != nil, "B's own limiter works alone")
            #expect(a.pushbacks.unwritten == 1 && b.pushbacks.unwritten == 1, "kept for the database's return")

            try await server.restartServer()
            // Each step is past the backoff's cap (30 s).
            #expect(await eventually(within: .seconds(120), every: .milliseconds(100)) {
                clock.advance(by: .seconds(31))
                await a.pushbacks.poll()
                await b.pushbacks.poll()
                return a.pushbacks.unwritten == 0 && b.pushbacks.unwritten == 0 && b.limiter.pauseRemaining() != nil
            })
            #expect(!FleetPushbackBridgeTests.admits(b))
            await a.pushbacks.poll()
            #expect(a.pushbacks.statistics.applied <= 1, "at most B's slow-down, if it was still on")
        }
    }
}
