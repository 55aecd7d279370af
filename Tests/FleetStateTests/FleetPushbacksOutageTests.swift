import FleetState
import Foundation
import PostgresTestSupport
import TestSupport
import Testing

/// The database stopped under two replicas and started again: a server of the test's own, since
/// the other tests share theirs.
@Suite("Fleet pushbacks without their database", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
struct FleetPushbacksOutageTests {
    @Test("stopped: publish returns at once and waits, polls fail, one warning; restarted: written and applied, one notice")
    func outage() async throws {
        try await withOwnServer(replicas: 2) { server, databases in
            // Each pool's first connection under the pool's generous bound: on a loaded machine
            // it took longer than the 2 s these replicas give a call (the full suite failed here).
            for database in databases { try await FleetQuotaTests.warmUp(database) }
            let clock = WallClock(FleetPushbacksTests.start), log = CapturedLog()
            let a = PushbackReplica(databases[0], clock: clock, log: log) { $0.callTimeout = .seconds(2) }
            let b = PushbackReplica(databases[1], clock: clock) { $0.callTimeout = .seconds(2) }
            await a.pushbacks.poll()
            await b.pushbacks.poll()
            #expect(a.pushbacks.state.isConnected && b.pushbacks.state.isConnected)

            try await server.stopServer()
            // Long enough to outlast every step of the clock below.
            a.pushbacks.publish(FleetPushbacksTests.pushback(.quotaPause, for: 864_000))
            #expect(a.pushbacks.unwritten == 1, "kept until written")
            #expect(await eventually { !a.pushbacks.state.isConnected })
            for _ in 0..<3 {
                clock.advance(31)
                await a.pushbacks.poll()
                await b.pushbacks.poll()
            }
            #expect(!b.pushbacks.state.isConnected)
            #expect(a.pushbacks.unwritten == 1)
            guard case .degraded(let reason, _) = a.pushbacks.state else { Issue.record("not degraded"); return }
            #expect(!reason.contains(server.password))
            #expect(log.messages.withLockedValue { $0.filter { $0.contains("unavailable") } }.count == 1,
                    "\(log.messages.withLockedValue { $0 })")

            try await server.restartServer()
            // Each step is past the backoff's cap, so every step may try the database once.
            #expect(await eventually(within: .seconds(120), every: .milliseconds(100)) {
                clock.advance(31)
                await a.pushbacks.poll()
                return a.pushbacks.state.isConnected && a.pushbacks.unwritten == 0
            })
            #expect(await eventually(within: .seconds(120), every: .milliseconds(100)) {
                clock.advance(31)
                await b.pushbacks.poll()
                return !b.applied.isEmpty
            })
            #expect(b.applied.map(\.kind) == [.quotaPause])
            #expect(log.messages.withLockedValue { $0.filter { $0.contains("reachable again") } }.count == 1)
        }
    }
}
