import FleetState
import Foundation
import PostgresTestSupport
import TestSupport
import Testing

/// The database stopped under a replica and started again: a server of the test's own, since
/// the other tests share theirs.
@Suite("Fleet quota without its database", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
struct FleetQuotaOutageTests {
    static let account = FleetQuotaTests.account
    static let perMinute = FleetQuotaTests.perMinute

    @Test("stopped: the held lease, then the local share (10 of 30, hint 3), never more, one warning; restarted: leases again")
    func outage() async throws {
        try await withOwnServer { server, databases in
            let database = databases[0]
            try await FleetQuotaTests.warmUp(database)
            let clock = WallClock(FleetQuotaTests.start), log = CapturedLog()
            let leases = FleetQuotaLeases(database: database)
            let quota = FleetQuota(leases: leases, configuration: FleetQuotaTests.configuration(), logger: log.logger, now: { clock.now })
            #expect(await FleetQuotaTests.granted(quota, 4) == 4)

            try await server.stopServer()
            // The held lease (10) still goes, the database or not; its prefetch fails.
            #expect(await FleetQuotaTests.granted(quota, 6) == 6)
            #expect(await eventually { !quota.state.isConnected })
            // The local share counts what this replica sent in the window: 10 already.
            #expect(await FleetQuotaTests.granted(quota, 3) == 0)

            clock.advance(61)
            #expect(await FleetQuotaTests.granted(quota, 15) == 10)
            #expect(quota.statistics.admittedOnLocalShare == 10)
            clock.advance(61)
            #expect(await FleetQuotaTests.granted(quota, 15) == 10)
            guard case .degraded(let reason, _) = quota.state else { Issue.record("not degraded: \(quota.state)"); return }
            #expect(!reason.contains(server.password))
            #expect(log.messages.withLockedValue { $0.filter { $0.contains("unavailable") } }.count == 1, "\(log.messages.withLockedValue { $0 })")

            try await server.restartServer()
            // Each step is past the backoff's cap, so every step may try the database once.
            #expect(await eventually(within: .seconds(120)) {
                clock.advance(31)
                _ = quota.trySpend(account: Self.account, limits: Self.perMinute)
                return quota.state.isConnected
            })
            clock.advance(61)
            await quota.maintain()
            let before = quota.statistics.spentFromLeases
            #expect(await FleetQuotaTests.granted(quota, 5) == 5)
            #expect(quota.statistics.spentFromLeases == before + 5)
            #expect(log.messages.withLockedValue { $0.filter { $0.contains("reachable again") } }.count == 1)
            let usage = try await leases.usage(account: Self.account, window: .messagesPerMinute, now: clock.now)
            // How many are held depends on when the prefetch ran; that one is, and the limit holds.
            #expect((usage?.outstandingLeases ?? 0) >= 1)
            #expect((usage?.granted ?? .max) <= 30)
        }
    }
}
