import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// Access tokens and rotated refresh tokens shared by the fleet (issue 15), one row of
/// `fleet_tokens` per credential key (the `TokenCache` key: the account's email, or the shared
/// credential's key for app-only grants), so that one replica refreshes while the others read.
///
/// **Wiring.** Only with a state key: without `--state-key-file` nothing secret is written to the
/// database (neither access nor refresh tokens), each replica refreshes for itself, only quotas
/// are shared, and `--state-dir` keeps rotated refresh tokens locally as it does without a fleet.
/// With one:
/// ```
/// let store = FleetTokenStore(database: database, key: try StateKey(contentsOf: path), logger: logger)
/// TokenCache(grant: …, sharing: TokenSharing(store: store, maximumWait: tokenRequestTimeout), …)
/// tokens.setCredentials(mounted, forKey: key, label: provider, resumingFrom: stateDirRefreshToken)
/// ```
/// Accounts are registered with their mounted credentials, whose refresh token the row's
/// `mounted_fingerprint` is compared with; `resumingFrom` is what `--state-dir` kept (nil without
/// one), used until the store hands out a newer one. `FleetSchema.migrate` must have run.
///
/// **Reading** costs nothing per message: a replica keeps the token in its `TokenCache` until
/// its early-expiry margin, and reads the row only then (one bounded call).
///
/// **Refreshing once for the fleet**: a replica that found no usable token takes the refresh
/// lease with one guarded statement (`INSERT … ON CONFLICT DO UPDATE … WHERE` the lease is free
/// or its own and the generation is still the one it read). The winner refreshes over HTTP
/// holding no lock and no transaction, then writes token, expiry and `generation + 1` in one
/// statement guarded by `refresher = me AND generation = g`. The others poll the row (bounded by
/// the token endpoint's timeout) and use the new token; when the lease is released (the winner's
/// refresh failed) or the wait ends, they refresh by themselves. A lease row, not an advisory
/// lock: a session lock would pin a pooled connection across an HTTP call and vanish ambiguously
/// with it; a lease with an expiry is visible, and a dead refresher's lease simply runs out.
///
/// **Rotated refresh tokens** (Microsoft) are written in the same statement as the access token
/// they came with, since the provider has just invalidated the old one; `mounted_fingerprint`
/// (SHA-256, hex) names the mounted token they descend from. A replica hands out the row's
/// refresh token only for the same mounted token; at its first refresh after registration, one
/// whose mounted token differs (the operator rotated it by hand) drops the row's tokens and
/// records its own, so the mounted one wins, as with `--state-dir`.
///
/// **Database away**: every call ends at the call bound (`timeout`, else the database's
/// `operationTimeout`); the cache then refreshes by itself.
public final class FleetTokenStore: Sendable {
    public let database: FleetDatabase
    let key: StateKey
    let timeout: Duration?
    let wallClock: @Sendable () -> Date
    let logger: Logger
    /// Rows found unreadable, by key and generation: each is logged once.
    private let unreadable = NIOLockedValueBox(Set<String>())

    /// - Parameter timeout: what each call may wait; nil for the database's `operationTimeout`.
    /// - Parameter wallClock: expiries and leases are stored as wall-clock times, the only
    ///   time replicas share.
    public init(database: FleetDatabase, key: StateKey, timeout: Duration? = nil,
                wallClock: @escaping @Sendable () -> Date = { Date() }, logger: Logger? = nil) {
        self.database = database
        self.key = key
        self.timeout = timeout
        self.wallClock = wallClock
        self.logger = logger ?? database.logger
    }

    var replica: String { database.configuration.replicaID }

    /// The row for `credentialKey`, decrypted; nil when there is none. A ciphertext that does not
    /// open (another key, another row's, tampered) reads as no tokens, and is logged once.
    public func record(forKey credentialKey: String) async throws(FleetStateError) -> FleetTokenRecord? {
        let logger = logger
        let row = try await database.call("token read", timeout: timeout) { client -> FleetTokenRow? in
            let rows = try await client.query("""
                SELECT ciphertext, issued_at_ms, expires_at_ms, generation, refresher, refresh_lease_until_ms, mounted_fingerprint
                FROM fleet_tokens WHERE credential_key = \(credentialKey)
                """, logger: logger)
            var found: FleetTokenRow?
            for try await columns in rows.decode((ByteBuffer?, Int64, Int64, Int64, String?, Int64, String?).self) {
                found = FleetTokenRow(columns)
            }
            return found
        }
        guard let row else { return nil }
        var record = FleetTokenRecord(generation: row.generation, issuedAt: Self.date(row.issuedAtMs), expiresAt: Self.date(row.expiresAtMs),
                                      refresher: row.refresher, refreshLeaseUntil: Self.date(row.leaseUntilMs),
                                      mountedFingerprint: row.mountedFingerprint)
        if let sealed = row.ciphertext {
            if let payload = open(sealed, credentialKey: credentialKey, generation: row.generation) {
                record.accessToken = payload.accessToken
                record.refreshToken = payload.refreshToken
            }
        }
        return record
    }

    /// Takes the refresh lease until `now + holding` when it is free, expired or already this
    /// replica's, and the row is still at `seenGeneration`. A missing row is created with it.
    public func takeRefreshLease(forKey credentialKey: String, seenGeneration: Int64, holding: Duration) async throws(FleetStateError) -> FleetTokenLease {
        let now = Self.milliseconds(wallClock())
        let until = now + Int64(FleetDatabaseConfiguration.milliseconds(holding))
        let replica = replica, logger = logger
        return try await database.call("token refresh lease", timeout: timeout) { client -> FleetTokenLease in
            let taken = try await client.query("""
                INSERT INTO fleet_tokens AS t (credential_key, refresher, refresh_lease_until_ms)
                VALUES (\(credentialKey), \(replica), \(until))
                ON CONFLICT (credential_key) DO UPDATE
                SET refresher = EXCLUDED.refresher, refresh_lease_until_ms = EXCLUDED.refresh_lease_until_ms
                WHERE t.generation = \(seenGeneration)
                  AND (t.refresher IS NULL OR t.refresher = EXCLUDED.refresher OR t.refresh_lease_until_ms < \(now))
                RETURNING t.generation
                """, logger: logger)
            for try await generation in taken.decode(Int64.self) { return .taken(generation: generation) }
            return .heldByAnother(generation: try await Self.generation(of: credentialKey, client: client, logger: logger) ?? seenGeneration)
        }
    }

    /// Writes the tokens as `generation + 1` and frees the lease, if this replica still holds the
    /// lease it took at `generation`. False when it does not (it expired and another took it).
    public func publish(forKey credentialKey: String, _ tokens: FleetTokenPublication, generation: Int64) async throws(FleetStateError) -> Bool {
        let next = generation + 1
        let sealed: [UInt8]
        do {
            let payload = try JSONEncoder().encode(FleetTokenPayload(accessToken: tokens.accessToken, refreshToken: tokens.refreshToken))
            sealed = try key.seal(Array(payload), credentialKey: credentialKey, generation: next)
        } catch {
            throw .invalidArgument("token not sealed: \(type(of: error))")
        }
        let ciphertext = ByteBuffer(bytes: sealed)
        let issued = Self.milliseconds(tokens.issuedAt), expires = Self.milliseconds(tokens.expiresAt)
        let fingerprint = tokens.mountedFingerprint, replica = replica, logger = logger
        return try await database.call("token publish", timeout: timeout) { client -> Bool in
            let rows = try await client.query("""
                UPDATE fleet_tokens SET ciphertext = \(ciphertext), issued_at_ms = \(issued), expires_at_ms = \(expires),
                    generation = \(next), refresher = NULL, refresh_lease_until_ms = 0, mounted_fingerprint = \(fingerprint)
                WHERE credential_key = \(credentialKey) AND refresher = \(replica) AND generation = \(generation)
                RETURNING generation
                """, logger: logger)
            var published = false
            for try await _ in rows.decode(Int64.self) { published = true }
            return published
        }
    }

    /// Frees the lease if this replica holds it (after a failed refresh).
    public func releaseRefreshLease(forKey credentialKey: String) async throws(FleetStateError) {
        let replica = replica, logger = logger
        try await database.call("token lease release", timeout: timeout) { client in
            try await client.query("""
                UPDATE fleet_tokens SET refresher = NULL, refresh_lease_until_ms = 0
                WHERE credential_key = \(credentialKey) AND refresher = \(replica)
                """, logger: logger)
        }
    }

    /// Drops the row's tokens and records `fingerprint` as the mounted token's, unless it is
    /// already the recorded one. The row's generation afterwards.
    public func adoptMounted(forKey credentialKey: String, fingerprint: String) async throws(FleetStateError) -> Int64 {
        let logger = logger
        return try await database.call("token mounted adoption", timeout: timeout) { client -> Int64 in
            let rows = try await client.query("""
                INSERT INTO fleet_tokens AS t (credential_key, mounted_fingerprint) VALUES (\(credentialKey), \(fingerprint))
                ON CONFLICT (credential_key) DO UPDATE
                SET ciphertext = NULL, issued_at_ms = 0, expires_at_ms = 0, generation = t.generation + 1,
                    mounted_fingerprint = EXCLUDED.mounted_fingerprint
                WHERE t.mounted_fingerprint IS DISTINCT FROM EXCLUDED.mounted_fingerprint
                RETURNING t.generation
                """, logger: logger)
            for try await generation in rows.decode(Int64.self) { return generation }
            return try await Self.generation(of: credentialKey, client: client, logger: logger) ?? 0
        }
    }

    /// For a guarded statement that changed nothing: where the row stands.
    private static func generation(of credentialKey: String, client: PostgresClient, logger: Logger) async throws -> Int64? {
        let rows = try await client.query("SELECT generation FROM fleet_tokens WHERE credential_key = \(credentialKey)", logger: logger)
        var generation: Int64?
        for try await value in rows.decode(Int64.self) { generation = value }
        return generation
    }

    /// SHA-256 of a mounted refresh token, in hex: the row says which mounted token its rotated
    /// one descends from without holding it.
    public static func fingerprint(ofMounted refreshToken: String) -> String {
        hex(Array(SHA256.hash(data: Array(refreshToken.utf8))))
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    private func open(_ sealed: [UInt8], credentialKey: String, generation: Int64) -> FleetTokenPayload? {
        if let plaintext = try? key.open(sealed, credentialKey: credentialKey, generation: generation),
           let payload = try? JSONDecoder().decode(FleetTokenPayload.self, from: Data(plaintext)) {
            return payload
        }
        let first = unreadable.withLockedValue { $0.insert("\(generation) \(credentialKey)").inserted }
        if first {
            // Key and generation only: the ciphertext is no one's business in a log.
            logger.warning("fleet token row does not decrypt with this replica's state key (another key, or altered): treated as absent",
                           metadata: ["credential_key": "\(credentialKey)", "generation": "\(generation)"])
        }
        return nil
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
