import FleetState
import Foundation
import Logging
import PostgresTestSupport
import Testing

/// Why the database tests did not run, shown by `swift test` next to each skipped test.
let postgresMissing: Comment = "PostgreSQL's initdb/postgres/pg_ctl are not on PATH nor in /usr/lib/postgresql/*/bin; XOAUTH2_PROXY_REQUIRE_POSTGRES=1 turns this skip into a failure"

/// A fresh database on the shared test server (or `server`), as a state URL with the password.
func freshStateURL(on server: PostgresTestServer? = nil) async throws -> FleetStateURL {
    let server = if let server { server } else { try await PostgresTestServer.shared() }
    return try await server.makeStateURL()
}

var quietLogger: Logger {
    var logger = Logger(label: "fleet-state-tests")
    logger.logLevel = .critical
    return logger
}

/// Runs `body` with a replica's database handle, its pool running, and stops the pool after.
/// The operation timeout is generous: a guard against a hang on a loaded CI machine, never a
/// measurement. Tests of the bound itself set their own.
func withFleetDatabase<T>(
    _ url: FleetStateURL,
    replica: String = "replica-1",
    configure: (inout FleetDatabaseConfiguration) -> Void = { _ in },
    _ body: (FleetDatabase) async throws -> T
) async throws -> T {
    var configuration = FleetDatabaseConfiguration(url: url, replicaID: replica)
    configuration.operationTimeout = .seconds(60)
    configuration.migrationTimeout = .seconds(60)
    configuration.statementTimeout = .seconds(60)
    // The whole suite loads the machine: a backend's start-up (fork, authentication) can take
    // seconds there, past the 5 s a deployment wants.
    configuration.connectTimeout = .seconds(60)
    configure(&configuration)
    let database = FleetDatabase(configuration: configuration, logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await database.run() }
        defer { group.cancelAll() }
        return try await body(database)
    }
}

/// A migrated database with `replicas` handles on it, for the lease tests.
func withMigratedFleet<T>(
    replicas: Int = 1,
    _ body: (FleetStateURL, [FleetDatabase]) async throws -> T
) async throws -> T {
    let url = try await freshStateURL()
    return try await withReplicas(url, count: replicas) { databases in
        try await FleetSchema.migrate(databases[0])
        return try await body(url, databases)
    }
}

/// A server of the test's own (the others share theirs), stopped after `body`, with a migrated
/// database and `count` replicas' handles on it: for tests that stop and restart the database.
func withOwnServer<T>(replicas count: Int = 1, _ body: (PostgresTestServer, [FleetDatabase]) async throws -> T) async throws -> T {
    let server = try await PostgresTestServer.start()
    defer { server.stop() }
    let url = try await freshStateURL(on: server)
    return try await withReplicas(url, count: count) { databases in
        try await FleetSchema.migrate(databases[0])
        return try await body(server, databases)
    }
}

func withReplicas<T>(_ url: FleetStateURL, count: Int, _ body: ([FleetDatabase]) async throws -> T) async throws -> T {
    func nest(_ index: Int, _ opened: [FleetDatabase]) async throws -> T {
        guard index < count else { return try await body(opened) }
        return try await withFleetDatabase(url, replica: "replica-\(index + 1)") { try await nest(index + 1, opened + [$0]) }
    }
    return try await nest(0, [])
}
