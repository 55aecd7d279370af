import Foundation
import Logging
import PostgresNIO

extension PostgresTestServer {
    /// A new, empty database, so that tests sharing the server never see each other's tables.
    public func makeDatabase() async throws -> String {
        let name = "fleet_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try await withAdminConnection { connection, logger in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        return name
    }

    /// A superuser connection over the server's Unix socket (trusted; TCP wants the password).
    @discardableResult
    public func withAdminConnection<T: Sendable>(database: String = "postgres", _ body: (PostgresConnection, Logger) async throws -> T) async throws -> T {
        var logger = Logger(label: "postgres-test-server")
        logger.logLevel = .critical
        let configuration = PostgresConnection.Configuration(
            unixSocketPath: "\(directory)/socket/.s.PGSQL.\(port)", username: superuser, password: nil, database: database)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        do {
            let result = try await body(connection, logger)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
