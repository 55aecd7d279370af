import Logging
import PostgresNIO

/// The fleet database's tables, created and brought up to date when a replica starts.
///
/// Replicas of a rollout start together and all migrate. Each migration runs in one transaction
/// that first takes a transaction-scoped advisory lock, so the migrations queue: the first
/// creates and records, the others then find the recorded version and do nothing. Every
/// statement can run on any version between (`IF NOT EXISTS`), but the lock is what makes them
/// safe: two concurrent `CREATE TABLE IF NOT EXISTS` can still collide in PostgreSQL's catalog.
public enum FleetSchema {
    /// The version this binary writes. A database at a higher one is refused (`schemaTooNew`).
    public static var version: Int { migrations.count }

    /// Arbitrary but fixed: "xoauth2" in ASCII. Advisory locks are per database.
    static let migrationLockKey: Int64 = 0x78_6F_61_75_74_68_32

    /// Index i holds the statements that take the schema from version i to i + 1. Append only:
    /// a released migration never changes.
    static let migrations: [[String]] = [
        [
            // Per account, quota window and window start: how much of the limit the fleet has
            // leased out (given-back parts subtracted). The invariant `granted <= quota_limit`
            // at grant time is what bounds the fleet's sending; see FleetQuotaLeases.
            """
            CREATE TABLE IF NOT EXISTS fleet_quota_windows (
                account text NOT NULL,
                window_kind text NOT NULL,
                window_start bigint NOT NULL,
                quota_limit bigint NOT NULL,
                granted bigint NOT NULL CHECK (granted >= 0),
                last_grant bigint NOT NULL,
                PRIMARY KEY (account, window_kind, window_start)
            )
            """,
            // Leases not given back yet. Given back: deleted, unused part subtracted from the
            // window. Expired: deleted by pruning, the whole lease counted as spent.
            """
            CREATE TABLE IF NOT EXISTS fleet_quota_leases (
                id uuid PRIMARY KEY,
                account text NOT NULL,
                window_kind text NOT NULL,
                window_start bigint NOT NULL,
                replica text NOT NULL,
                amount bigint NOT NULL CHECK (amount > 0),
                expires_at_ms bigint NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS fleet_quota_leases_expiry ON fleet_quota_leases (expires_at_ms)",
        ],
        rollingQuotaMigration,
        tokensMigration,
        pushbacksMigration,
    ]

    public struct Migration: Sendable, Hashable {
        public var from: Int
        public var to: Int

        public init(from: Int, to: Int) {
            self.from = from
            self.to = to
        }
    }

    /// Brings the schema to `version`, waiting at most the configuration's `migrationTimeout`.
    @discardableResult
    public static func migrate(_ database: FleetDatabase) async throws(FleetStateError) -> Migration {
        let timeout = database.configuration.migrationTimeout
        let milliseconds = FleetDatabaseConfiguration.milliseconds(timeout)
        let logger = database.logger
        let migration = try await database.callOnOwnConnection("schema migration", timeout: timeout) { connection, logger in
            try await connection.withTransaction(logger: logger) { connection -> Result<Migration, FleetStateError> in
                // Waiting for another replica's migration is part of this one.
                try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = \(milliseconds)"), logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(milliseconds)"), logger: logger)
                try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLockKey))", logger: logger)
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS fleet_schema_version (
                        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                        version integer NOT NULL
                    )
                    """, logger: logger)
                var found = 0
                for try await value in try await connection.query("SELECT version FROM fleet_schema_version", logger: logger).decode(Int.self) {
                    found = value
                }
                guard found <= version else { return .failure(.schemaTooNew(found: found, known: version)) }
                for statements in migrations[found...] {
                    for statement in statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                }
                if found < version {
                    try await connection.query("""
                        INSERT INTO fleet_schema_version (singleton, version) VALUES (true, \(version))
                        ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version
                        """, logger: logger)
                }
                return .success(Migration(from: found, to: version))
            }
        }.get()
        if migration.from != migration.to {
            logger.notice("fleet database schema migrated", metadata: ["from": "\(migration.from)", "to": "\(migration.to)"])
        }
        return migration
    }

    /// The recorded version, 0 for a database no replica has migrated yet. Changes nothing.
    public static func recordedVersion(_ database: FleetDatabase, timeout: Duration? = nil) async throws(FleetStateError) -> Int {
        return try await database.callOnOwnConnection("schema version", timeout: timeout ?? database.configuration.operationTimeout) { client, logger in
            let exists = try await client.query("SELECT to_regclass('fleet_schema_version') IS NOT NULL", logger: logger)
            var hasTable = false
            for try await value in exists.decode(Bool.self) { hasTable = value }
            guard hasTable else { return 0 }
            var found = 0
            for try await value in try await client.query("SELECT version FROM fleet_schema_version", logger: logger).decode(Int.self) {
                found = value
            }
            return found
        }
    }
}
