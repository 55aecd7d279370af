import Logging
import PostgresNIO

/// One replica's handle on the fleet database: a connection pool, and the bound on every call.
/// `run()` must be running (as a service, or in a task) for calls to reach the database.
public final class FleetDatabase: Sendable {
    public let configuration: FleetDatabaseConfiguration
    let client: PostgresClient
    let gate: DatabaseCallGate
    let logger: Logger

    public init(configuration: FleetDatabaseConfiguration, logger: Logger) {
        self.configuration = configuration
        self.client = PostgresClient(configuration: configuration.clientConfiguration, backgroundLogger: logger)
        self.gate = DatabaseCallGate(limit: configuration.maximumCallsInFlight)
        self.logger = logger
    }

    /// Runs the connection pool until the calling task is cancelled (or, under a ServiceGroup,
    /// until graceful shutdown).
    public func run() async {
        await client.run()
    }

    /// Calls started and not yet ended, those a caller gave up on included.
    public var callsInFlight: Int { gate.callsInFlight }

    /// One bounded call on a connection of its own, outside the pool: for start-up and `check`,
    /// where a refused login must be reported as such. (The pool retries failed connections
    /// quietly, which suits the message path: there a call ends at its timeout either way.)
    func callOnOwnConnection<T: Sendable>(
        _ operation: String,
        timeout: Duration,
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
    ) async throws(FleetStateError) -> T {
        let configuration = self.configuration, logger = self.logger
        return try await gate.run(operation, timeout: timeout) {
            let connection = try await PostgresConnection.connect(
                configuration: try configuration.connectionConfiguration(), id: 0, logger: logger)
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

    /// One bounded call: `body` gets the pool; the caller waits at most `timeout`
    /// (`operationTimeout` by default). `abandoned` receives a result that came too late.
    func call<T: Sendable>(
        _ operation: String,
        timeout: Duration? = nil,
        abandoned: @escaping @Sendable (T) async -> Void = { _ in },
        _ body: @escaping @Sendable (PostgresClient) async throws -> T
    ) async throws(FleetStateError) -> T {
        let client = self.client
        return try await gate.run(operation, timeout: timeout ?? configuration.operationTimeout, abandoned: abandoned) {
            try await body(client)
        }
    }
}
