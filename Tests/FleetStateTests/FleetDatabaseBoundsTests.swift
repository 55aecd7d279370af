import FleetState
import Foundation
import PostgresNIO
import PostgresTestSupport
import TestSupport
import Testing

/// The caller's bound on every call, against a database that does not answer in time: a row
/// lock held by another session keeps the statement waiting for as long as the test wants, so
/// nothing depends on how fast the machine is.
@Suite("Fleet database bounds", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
struct FleetDatabaseBoundsTests {
    static let now = FleetQuotaLeasesTests.now
    static let request = QuotaLeaseRequest(account: "sales@example.com", window: .messagesPerMinute, limit: 30, fleetSizeHint: 1)

    /// Runs `body` while another session holds the lock every grant takes (the account's row).
    func whileWindowsLocked<T: Sendable>(_ url: FleetStateURL, _ body: () async throws -> T) async throws -> T {
        let server = try await PostgresTestServer.shared()
        return try await server.withAdminConnection(database: url.database) { connection, logger in
            try await connection.query("BEGIN", logger: logger)
            try await connection.query("SELECT quota_limit FROM fleet_quota_accounts FOR UPDATE", logger: logger)
            do {
                let result = try await body()
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                try await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    @Test("a lease call returns at its timeout; the grant that lands later is given back, not held by nobody")
    func lateGrantGivenBack() async throws {
        try await withMigratedFleet { url, databases async throws in
            let leases = FleetQuotaLeases(database: databases[0])
            let first = try #require(try await leases.lease(Self.request, now: Self.now))
            #expect(try await leases.giveBack(QuotaLeaseBalance(first), now: Self.now))

            try await whileWindowsLocked(url) {
                await #expect(throws: FleetStateError.timedOut(operation: "quota lease", after: .milliseconds(100))) {
                    try await leases.lease(Self.request, now: Self.now, timeout: .milliseconds(100))
                }
                #expect(databases[0].callsInFlight == 1)
            }
            let settled = QuotaWindowUsage(limit: 30, granted: 0, outstandingLeases: 0, outstandingAmount: 0)
            #expect(await eventually {
                guard databases[0].callsInFlight == 0 else { return false }
                return (try? await leases.usage(account: Self.request.account, window: .messagesPerMinute, now: Self.now)) == settled
            })
        }
    }

    @Test("past the in-flight bound a call fails at once instead of queueing behind the waiting ones")
    func overloaded() async throws {
        let url = try await freshStateURL()
        try await withFleetDatabase(url, configure: { $0.maximumCallsInFlight = 1 }) { database in
            try await FleetSchema.migrate(database)
            let leases = FleetQuotaLeases(database: database)
            let first = try #require(try await leases.lease(Self.request, now: Self.now))
            #expect(try await leases.giveBack(QuotaLeaseBalance(first), now: Self.now))

            let granted = try await whileWindowsLocked(url) {
                let waiting = Task { try await leases.lease(Self.request, now: Self.now) }
                #expect(await eventually { database.callsInFlight == 1 })
                await #expect(throws: FleetStateError.overloaded(operation: "quota usage", callsInFlight: 1)) {
                    try await leases.usage(account: Self.request.account, window: .messagesPerMinute, now: Self.now)
                }
                return waiting
            }
            #expect(try await granted.value?.amount == 30)
        }
    }
}
