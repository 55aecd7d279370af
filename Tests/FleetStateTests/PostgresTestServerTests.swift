import Foundation
import PostgresNIO
@testable import PostgresTestSupport
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("PostgreSQL test server")
struct PostgresTestServerTests {
    @Test("binaries: the first PATH directory with all three programs, else the newest /usr/lib/postgresql/*/bin")
    func locate() {
        let present: Set<String> = ["/a/initdb", "/b/initdb", "/b/postgres", "/b/pg_ctl",
                                    "/v/9.6/bin/initdb", "/v/9.6/bin/postgres", "/v/9.6/bin/pg_ctl",
                                    "/v/15/bin/initdb", "/v/15/bin/postgres", "/v/15/bin/pg_ctl",
                                    "/v/16/bin/initdb"]
        let locate = { (path: String) in
            PostgresBinaries.locate(path: path, versionedRoot: "/v", isExecutable: present.contains, list: { _ in ["9.6", "16", "15"] })
        }
        #expect(locate("/a:/b")?.directory == "/b")
        #expect(locate("/a")?.directory == "/v/15/bin")
        #expect(PostgresBinaries.locate(path: "", versionedRoot: "/v", isExecutable: { _ in false }, list: { _ in ["15"] }) == nil)
    }

    @Test("the shared server runs as an unprivileged user", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
    func unprivileged() async throws {
        let server = try await PostgresTestServer.shared()
        let pidText = try String(contentsOfFile: server.directory + "/data/postmaster.pid", encoding: .utf8)
        let pid = try #require(pidText.split(separator: "\n").first.map(String.init))
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let uidLine = try #require(status.split(separator: "\n").first { $0.hasPrefix("Uid:") })
        let uids = uidLine.split(whereSeparator: \.isWhitespace).dropFirst().compactMap { UInt32($0) }
        #expect(uids.count == 4)
        #expect(uids.allSatisfy { $0 == geteuid() || (geteuid() == 0 && $0 != 0) }, "\(uidLine)")
    }

    @Test("stop() ends the server and removes its directory", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
    func stop() async throws {
        let server = try await PostgresTestServer.start()
        let database = try await server.makeDatabase()
        #expect(database.hasPrefix("fleet_"))
        #expect(FileManager.default.fileExists(atPath: server.directory + "/data/PG_VERSION"))
        server.stop()
        #expect(await eventually { !FileManager.default.fileExists(atPath: server.directory) })
        await #expect(throws: (any Error).self) { try await server.makeDatabase() }
    }
}

@Suite("PostgreSQL test server, stopped and restarted", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
struct PostgresTestServerRestartTests {
    @Test("stopServer() refuses connections; restartServer() serves the same data on the same port")
    func stopAndRestart() async throws {
        let server = try await PostgresTestServer.start()
        defer { server.stop() }
        let database = try await server.makeDatabase()
        try await server.withAdminConnection(database: database) { connection, logger in
            // The server runs with synchronous_commit off; an immediate stop would lose the commit.
            try await connection.query("SET synchronous_commit = on", logger: logger)
            try await connection.query("CREATE TABLE kept (value int)", logger: logger)
            try await connection.query("INSERT INTO kept VALUES (4711)", logger: logger)
        }
        try await server.stopServer()
        await #expect(throws: (any Error).self) { try await server.makeDatabase() }
        try await server.restartServer()
        let values = try await server.withAdminConnection(database: database) { connection, logger in
            var values: [Int] = []
            for try await value in try await connection.query("SELECT value FROM kept", logger: logger).decode(Int.self) { values.append(value) }
            return values
        }
        #expect(values == [4711])
    }
}
