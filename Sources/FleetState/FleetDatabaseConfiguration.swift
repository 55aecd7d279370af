import NIOCore
import NIOSSL
import PostgresNIO

/// How a replica talks to the fleet database: where, how many connections, and how long anything
/// may take. The message path asks with `operationTimeout` (about 50 ms) and falls back to its
/// local share when that passes; the server's own `statement_timeout` ends what the client gave
/// up on, so an abandoned statement does not hold a connection for long either.
public struct FleetDatabaseConfiguration: Sendable {
    public var url: FleetStateURL
    /// Stored on every lease this replica takes, to tell replicas apart when reading the tables.
    public var replicaID: String
    /// What one call on the message path may wait, connection lease included.
    public var operationTimeout: Duration = .milliseconds(50)
    /// What the schema migration at start-up may wait, the other replicas' migrations included.
    public var migrationTimeout: Duration = .seconds(30)
    /// The server ends a statement that runs longer (PostgreSQL's `statement_timeout`).
    public var statementTimeout: Duration = .seconds(5)
    public var connectTimeout: Duration = .seconds(5)
    public var maximumConnections = 4
    /// Calls started and not finished (those a caller gave up on included); past it a call fails
    /// at once instead of queueing behind a database that does not answer.
    public var maximumCallsInFlight = 64

    public init(url: FleetStateURL, replicaID: String) {
        self.url = url
        self.replicaID = replicaID
    }

    var clientConfiguration: PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: tlsConfiguration.map { .require($0) } ?? .disable)
        configuration.options.connectTimeout = connectTimeout
        configuration.options.maximumConnections = max(1, maximumConnections)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    /// For a connection of its own, outside the pool. Creating the TLS context reads the trust
    /// roots: not for an event loop.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: try tlsConfiguration.map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable)
        configuration.options.connectTimeout = .milliseconds(Self.milliseconds(connectTimeout))
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    private var startupParameters: [(String, String)] {
        [
            ("application_name", "xoauth2-proxy"),
            ("statement_timeout", "\(Self.milliseconds(statementTimeout))"),
            ("lock_timeout", "\(Self.milliseconds(statementTimeout))"),
            ("idle_in_transaction_session_timeout", "\(Self.milliseconds(migrationTimeout) * 2)"),
        ]
    }

    /// Nil for sslmode=disable.
    private var tlsConfiguration: TLSConfiguration? {
        switch url.sslMode {
        case .disable:
            return nil
        case .require:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            return tls
        case .verifyFull:
            return .makeClientConfiguration()
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
