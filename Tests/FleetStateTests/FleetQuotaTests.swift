import FleetState
import Foundation
import PostgresTestSupport
import TestSupport
import Testing

@Suite("Fleet quota, one replica's side", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
struct FleetQuotaTests {
    static let start = FleetQuotaLeasesTests.now
    static let account = FleetQuotaLeasesTests.account
    static let perMinute: [QuotaWindow: Int] = [.messagesPerMinute: 30]

    /// Limit 30 a minute, hint 3: leases of about a third of what is left, a local share of 10.
    /// The wait is generous: a bound on a hang on a loaded machine, never a measurement.
    static func configuration() -> FleetQuotaConfiguration {
        var configuration = FleetQuotaConfiguration(fleetSizeHint: 3)
        configuration.maximumWait = .seconds(5)
        configuration.leaseDuration = .seconds(10)
        return configuration
    }

    /// Opens the pool's connection with the suite's generous bound first: a backend's start on a
    /// loaded machine can take longer than the quota's wait (it once took over 5 s).
    static func warmUp(_ database: FleetDatabase) async throws {
        _ = try await FleetQuotaLeases(database: database).usage(account: "warm-up", window: .messagesPerMinute, now: start)
    }

    static func granted(_ quota: FleetQuota, _ messages: Int) async -> Int {
        var granted = 0
        for _ in 0..<messages where await quota.spend(account: account, limits: perMinute).isGranted { granted += 1 }
        return granted
    }

    @Test("messages spend a held lease without waiting; the next lease is asked for before it runs out; the fleet's limit holds")
    func spendsFromLeases() async throws {
        try await withMigratedFleet { _, databases async throws in
            try await Self.warmUp(databases[0])
            let clock = WallClock(Self.start)
            let quota = FleetQuota(leases: FleetQuotaLeases(database: databases[0]), configuration: Self.configuration(),
                                   logger: quietLogger, now: { clock.now })
            #expect(await Self.granted(quota, 1) == 1)
            #expect(quota.statistics.leaseCalls == 1)
            for message in 2...8 {
                #expect(quota.trySpend(account: Self.account, limits: Self.perMinute).isGranted, "message \(message) waited")
            }
            // 2 of the first lease's 10 left: the next lease was asked for, and those 2 need no wait.
            #expect(await eventually { quota.statistics.leaseCalls == 2 })
            #expect(quota.trySpend(account: Self.account, limits: Self.perMinute).isGranted)
            #expect(quota.trySpend(account: Self.account, limits: Self.perMinute).isGranted)

            #expect(await Self.granted(quota, 25) == 20)
            let statistics = quota.statistics
            #expect(statistics.spentFromLeases == 30)
            #expect(statistics.admittedOnLocalShare == 0)
            #expect(statistics.leaseCalls < 30)
            #expect(quota.state == .connected)
            let usage = try await FleetQuotaLeases(database: databases[0]).usage(account: Self.account, window: .messagesPerMinute, now: clock.now)
            #expect(usage?.granted == 30)
        }
    }

    @Test("idle leases are given back, and all of them at shutdown: the others get the unused part at once")
    func givesBack() async throws {
        try await withMigratedFleet { _, databases async throws in
            try await Self.warmUp(databases[0])
            let clock = WallClock(Self.start)
            let leases = FleetQuotaLeases(database: databases[0])
            let quota = FleetQuota(leases: leases, configuration: Self.configuration(), logger: quietLogger, now: { clock.now })
            #expect(await Self.granted(quota, 1) == 1)
            await quota.maintain()
            #expect(try await leases.usage(account: Self.account, window: .messagesPerMinute, now: clock.now)?.outstandingLeases == 1)
            clock.advance(6)
            await quota.maintain()
            #expect(quota.statistics.givenBack == 1)
            let idle = try await leases.usage(account: Self.account, window: .messagesPerMinute, now: clock.now)
            #expect(idle == QuotaWindowUsage(limit: 30, granted: 1, outstandingLeases: 0, outstandingAmount: 0))

            #expect(await Self.granted(quota, 2) == 2)
            await quota.shutdown()
            let after = try await leases.usage(account: Self.account, window: .messagesPerMinute, now: clock.now)
            #expect(after == QuotaWindowUsage(limit: 30, granted: 3, outstandingLeases: 0, outstandingAmount: 0))
        }
    }

    @Test("a refunded message goes back to its lease")
    func refund() async throws {
        try await withMigratedFleet { _, databases async throws in
            try await Self.warmUp(databases[0])
            let clock = WallClock(Self.start)
            let leases = FleetQuotaLeases(database: databases[0])
            let quota = FleetQuota(leases: leases, configuration: Self.configuration(), logger: quietLogger, now: { clock.now })
            guard case .granted(let spend) = await quota.spend(account: Self.account, limits: Self.perMinute) else {
                Issue.record("not granted")
                return
            }
            quota.refund(spend)
            await quota.shutdown()
            let after = try await leases.usage(account: Self.account, window: .messagesPerMinute, now: clock.now)
            #expect(after?.granted == 0)
        }
    }
}
