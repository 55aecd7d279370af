import FleetState
import PostgresNIO
import PostgresTestSupport
import Testing

@Suite("Fleet schema", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
struct FleetSchemaTests {
    @Test("a fresh database migrates to the current version; migrating again changes nothing")
    func migrateOnce() async throws {
        let url = try await freshStateURL()
        try await withFleetDatabase(url) { database async throws in
            #expect(try await FleetSchema.recordedVersion(database) == 0)
            #expect(try await FleetSchema.migrate(database) == .init(from: 0, to: FleetSchema.version))
            #expect(try await FleetSchema.recordedVersion(database) == FleetSchema.version)
            #expect(try await FleetSchema.migrate(database) == .init(from: FleetSchema.version, to: FleetSchema.version))
        }
    }

    @Test("eight replicas migrating one fresh database at once: one migrates, the others find it done, none fails")
    func concurrentMigrations() async throws {
        let url = try await freshStateURL()
        let migrations = try await withReplicas(url, count: 8) { databases in
            try await withThrowingTaskGroup(of: FleetSchema.Migration.self) { group in
                for database in databases {
                    group.addTask { try await FleetSchema.migrate(database) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(migrations.filter { $0.from == 0 }.count == 1, "\(migrations)")
        #expect(migrations.allSatisfy { $0.to == FleetSchema.version })
        let server = try await PostgresTestServer.shared()
        let rows = try await server.withAdminConnection(database: url.database) { connection, logger in
            var rows: [Int] = []
            for try await version in try await connection.query("SELECT version FROM fleet_schema_version", logger: logger).decode(Int.self) {
                rows.append(version)
            }
            return rows
        }
        #expect(rows == [FleetSchema.version])
    }

    @Test("a database migrated by a newer binary is refused, and left as it is")
    func newerSchema() async throws {
        let url = try await freshStateURL()
        try await withFleetDatabase(url) { database async throws in
            try await FleetSchema.migrate(database)
            let server = try await PostgresTestServer.shared()
            let newer = FleetSchema.version + 1
            try await server.withAdminConnection(database: url.database) { connection, logger in
                try await connection.query("UPDATE fleet_schema_version SET version = \(newer)", logger: logger)
            }
            await #expect(throws: FleetStateError.schemaTooNew(found: newer, known: FleetSchema.version)) {
                try await FleetSchema.migrate(database)
            }
            #expect(try await FleetSchema.recordedVersion(database) == newer)
        }
    }

    @Test("a wrong password is refused, and the error does not show it")
    func wrongPassword() async throws {
        var url = try await freshStateURL()
        url.password = "not-the-Password-4711"
        try await withFleetDatabase(url, configure: { $0.operationTimeout = .seconds(60) }) { database in
            do {
                _ = try await FleetSchema.recordedVersion(database)
                Issue.record("a wrong password was accepted")
            } catch {
                #expect(!"\(error)".contains("4711"), "\(error)")
                guard case .database? = error as? FleetStateError else { Issue.record("expected a database error, got \(error)"); return }
            }
        }
    }
}
