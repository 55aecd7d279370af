import Accounts
import FleetState
import Foundation
import Logging
import NIOPosix
import OAuth2
import PostgresTestSupport
@testable import Relay
import Resilience
import TestSupport

/// One replica of a fleet, as far as pushbacks go: its accounts (limiters and pools, dry-run, no
/// socket opened) and its bridge to the database. Every replica reads one `ManualClock`; the wall
/// clock the bridge uses moves with it, so the database's `until` and the limiters agree.
struct PushbackRelayReplica {
    let email: String
    let bridge: FleetPushbackBridge
    let accounts: RelayAccounts

    var account: RelayAccount { accounts.lookup(email: email)! }
    var limiter: AccountLimiter { account.limiter }
    var pushbacks: FleetPushbacks { bridge.pushbacks }

    init(_ database: FleetDatabase, clock: ManualClock, wall: @escaping @Sendable () -> Date, email: String = "fleet@example.com",
         callTimeout: Duration = .seconds(60), quotaPause: Duration = .seconds(1800)) throws {
        self.email = email
        bridge = Self.bridge(database, wall: wall, callTimeout: callTimeout)
        var resilience = ResilienceSettings()
        resilience.clock = clock.clock
        resilience.quotaPause = quotaPause
        resilience.fleetPushbacks = bridge
        let tokens = TokenCache(grant: RefreshTokenGrant(transport: RelaySessionHandlerTests.NoTokenEndpoint()), logger: Self.logger)
        let connector = UpstreamConnector(group: MultiThreadedEventLoopGroup.singleton, tokens: tokens, heloName: "relay.test",
                                          hostBreakers: CircuitBreakerRegistry(), logger: Self.logger, dryRun: true)
        let account = Account(email: email, provider: .custom, clientID: "client", password: "secret",
                              tokenURL: "http://127.0.0.1:9/token", smtpHost: "127.0.0.1", smtpPort: 9, smtpTLS: .none,
                              maxConnections: 4)
        accounts = try RelayAccounts(directory: AccountDirectory(accounts: [account]), tls: UpstreamTLSContexts(),
                                     connector: connector, resilience: resilience)
        bridge.attach(accounts)
    }

    static let logger = Logger(label: "fleet-pushback-tests") { _ in SwiftLogNoOpLogHandler() }

    static func bridge(_ database: FleetDatabase, wall: @escaping @Sendable () -> Date, callTimeout: Duration = .seconds(60)) -> FleetPushbackBridge {
        var configuration = FleetPushbacksConfiguration()
        // A guard against a hang on a loaded machine, never a measurement.
        configuration.callTimeout = callTimeout
        return FleetPushbackBridge(database: database, configuration: configuration, logger: logger, now: wall)
    }

    /// What a provider reply does on this replica (`RelaySession` calls the same).
    func providerSays(_ pushback: ProviderPushback) {
        account.apply(pushback, logger: Self.logger, metrics: RecordingRelayMetrics())
    }

    /// What the connector does after AUTH is refused with a fresh token, `threshold` times.
    func credentialsRefused() {
        for _ in 0..<limiter.credentials.configuration.failureThreshold {
            limiter.credentials.recordFailure()
            limiter.publishCredentialsIfOpen(email: email)
        }
    }

    /// Published and written (or found there already) by this replica's writer.
    func settled() async -> Bool {
        await eventually { pushbacks.unwritten == 0 }
    }
}

/// A migrated fleet database on `server` (the shared one by default) with `count` handles on
/// it, their pools running for the duration of `body`, which gets the clock every replica
/// reads and the wall clock that moves with it.
func withFleetDatabases<T>(
    count: Int = 2,
    server: PostgresTestServer? = nil,
    _ body: (ManualClock, @escaping @Sendable () -> Date, [FleetDatabase]) async throws -> T
) async throws -> T {
    let server = if let server { server } else { try await PostgresTestServer.shared() }
    let url = try await server.makeStateURL()
    let databases = (0..<count).map { index in
        var configuration = FleetDatabaseConfiguration(url: url, replicaID: "replica-\(index + 1)")
        configuration.operationTimeout = .seconds(60)
        configuration.migrationTimeout = .seconds(60)
        configuration.connectTimeout = .seconds(60)
        return FleetDatabase(configuration: configuration, logger: PushbackRelayReplica.logger)
    }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        for database in databases { group.addTask { await database.run() } }
        defer { group.cancelAll() }
        try await FleetSchema.migrate(databases[0])
        let clock = ManualClock(), started = clock.now, wallStart = Date(timeIntervalSince1970: 1_800_000_000)
        let wall: @Sendable () -> Date = { wallStart.addingTimeInterval(FleetPushbackBridge.seconds(clock.now - started)) }
        return try await body(clock, wall, databases)
    }
}

/// `withFleetDatabases` with a `PushbackRelayReplica` on each handle.
func withPushbackFleet<T>(
    count: Int = 2,
    server: PostgresTestServer? = nil,
    callTimeout: Duration = .seconds(60),
    quotaPause: Duration = .seconds(1800),
    _ body: (ManualClock, [PushbackRelayReplica]) async throws -> T
) async throws -> T {
    try await withFleetDatabases(count: count, server: server) { clock, wall, databases in
        let replicas = try databases.map {
            try PushbackRelayReplica($0, clock: clock, wall: wall, callTimeout: callTimeout, quotaPause: quotaPause)
        }
        return try await body(clock, replicas)
    }
}
