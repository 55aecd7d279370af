import FleetState
import Foundation
import PostgresNIO
import PostgresTestSupport
import TestSupport
import Testing

/// The store's statements on their own: the lease, the guarded publication, what does not decrypt.
@Suite("Fleet token store", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
struct FleetTokenStoreTests {
    static let key = "sales@example.com"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func publication(_ value: String, refreshToken: String? = nil) -> FleetTokenPublication {
        FleetTokenPublication(accessToken: value, issuedAt: now, expiresAt: now.addingTimeInterval(3600), refreshToken: refreshToken,
                              mountedFingerprint: FleetTokenStore.fingerprint(ofMounted: "rt-mounted"))
    }

    func stores(_ databases: [FleetDatabase], clock: WallClock, log: CapturedLog? = nil) -> [FleetTokenStore] {
        databases.map { FleetTokenStore(database: $0, key: TokenFleet.stateKey, wallClock: { clock.now }, logger: log?.logger) }
    }

    @Test("one replica takes the lease; the other is told the generation to wait past; only the holder publishes")
    func leaseAndGuardedPublication() async throws {
        try await withMigratedFleet(replicas: 2) { _, databases async throws in
            let clock = WallClock(Self.now)
            let stores = stores(databases, clock: clock)
            #expect(try await stores[0].record(forKey: Self.key) == nil)
            #expect(try await stores[0].takeRefreshLease(forKey: Self.key, seenGeneration: 0, holding: .seconds(30)) == .taken(generation: 0))
            #expect(try await stores[1].takeRefreshLease(forKey: Self.key, seenGeneration: 0, holding: .seconds(30)) == .heldByAnother(generation: 0))
            #expect(try await stores[1].publish(forKey: Self.key, Self.publication("at-b"), generation: 0) == false)
            #expect(try await stores[0].publish(forKey: Self.key, Self.publication("at-a", refreshToken: "rt-2"), generation: 0))
            // Published once: the same lease does not publish twice.
            #expect(try await stores[0].publish(forKey: Self.key, Self.publication("at-a2"), generation: 0) == false)

            let record = try #require(try await stores[1].record(forKey: Self.key))
            #expect(record.generation == 1)
            #expect(record.accessToken == "at-a")
            #expect(record.refreshToken == "rt-2")
            #expect(record.refresher == nil)
            #expect(record.expiresAt == Self.now.addingTimeInterval(3600))
            #expect(record.mountedFingerprint == FleetTokenStore.fingerprint(ofMounted: "rt-mounted"))
            // A lease asked for with the generation read before the publication is not granted.
            #expect(try await stores[1].takeRefreshLease(forKey: Self.key, seenGeneration: 0, holding: .seconds(30)) == .heldByAnother(generation: 1))
        }
    }

    @Test("a lease that ran out passes to the next replica; a released one at once")
    func expiredAndReleasedLeases() async throws {
        try await withMigratedFleet(replicas: 2) { _, databases async throws in
            let clock = WallClock(Self.now)
            let stores = stores(databases, clock: clock)
            #expect(try await stores[0].takeRefreshLease(forKey: Self.key, seenGeneration: 0, holding: .seconds(30)) == .taken(generation: 0))
            clock.advance(31)
            #expect(try await stores[1].takeRefreshLease(forKey: Self.key, seenGeneration: 0, holding: .seconds(30)) == .taken(generation: 0))
            // The first holder lost it: its late publication is refused.
            #expect(try await stores[0].publish(forKey: Self.key, Self.publication("at-late"), generation: 0) == false)
            try await stores[1].releaseRefreshLease(forKey: Self.key)
            #expect(try await stores[0].takeRefreshLease(forKey: Self.key, seenGeneration: 0, holding: .seconds(30)) == .taken(generation: 0))
        }
    }

    @Test("a ciphertext altered, moved to another account or rolled back to an older generation reads as no tokens, logged once without them")
    func unreadableRows() async throws {
        try await withMigratedFleet { url, databases async throws in
            let clock = WallClock(Self.now), log = CapturedLog()
            let store = stores(databases, clock: clock, log: log)[0]
            for key in [Self.key, "ops@example.com"] {
                _ = try await store.takeRefreshLease(forKey: key, seenGeneration: 0, holding: .seconds(30))
                #expect(try await store.publish(forKey: key, Self.publication("at-\(key)", refreshToken: "rt-secret"), generation: 0))
            }
            let server = try await PostgresTestServer.shared()
            func alter(_ sql: String) async throws {
                try await server.withAdminConnection(database: url.database) { connection, logger in
                    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                }
            }
            // Another account's ciphertext replayed into this row.
            try await alter("""
                UPDATE fleet_tokens SET ciphertext = (SELECT ciphertext FROM fleet_tokens WHERE credential_key = 'ops@example.com')
                WHERE credential_key = '\(Self.key)'
                """)
            #expect(try await store.record(forKey: Self.key)?.accessToken == nil)
            #expect(try await store.record(forKey: Self.key)?.refreshToken == nil)
            // One byte flipped.
            try await alter("UPDATE fleet_tokens SET ciphertext = set_byte(ciphertext, 20, get_byte(ciphertext, 20) # 1) WHERE credential_key = 'ops@example.com'")
            #expect(try await store.record(forKey: "ops@example.com")?.accessToken == nil)
            // A newer publication, then the row's generation put back: the new ciphertext does not pass as the old generation's.
            _ = try await store.takeRefreshLease(forKey: "ops@example.com", seenGeneration: 1, holding: .seconds(30))
            #expect(try await store.publish(forKey: "ops@example.com", Self.publication("at-new"), generation: 1))
            #expect(try await store.record(forKey: "ops@example.com")?.accessToken == "at-new")
            try await alter("UPDATE fleet_tokens SET generation = 1 WHERE credential_key = 'ops@example.com'")
            #expect(try await store.record(forKey: "ops@example.com")?.accessToken == nil)

            let lines = log.messages.withLockedValue { $0 }
            // Once per account and generation: the rolled-back row is the flipped one's generation.
            #expect(lines.filter { $0.contains("does not decrypt") }.count == 2, "\(lines)")
            #expect(!lines.contains { $0.contains("at-") || $0.contains("rt-secret") })
        }
    }

    @Test("adopting a mounted token drops the row's tokens once, and not again for the same mount")
    func adoptMounted() async throws {
        try await withMigratedFleet { _, databases async throws in
            let store = stores(databases, clock: WallClock(Self.now))[0]
            _ = try await store.takeRefreshLease(forKey: Self.key, seenGeneration: 0, holding: .seconds(30))
            #expect(try await store.publish(forKey: Self.key, Self.publication("at-1", refreshToken: "rt-2"), generation: 0))
            let fingerprint = FleetTokenStore.fingerprint(ofMounted: "rt-by-hand")
            #expect(try await store.adoptMounted(forKey: Self.key, fingerprint: fingerprint) == 2)
            #expect(try await store.adoptMounted(forKey: Self.key, fingerprint: fingerprint) == 2)
            let record = try #require(try await store.record(forKey: Self.key))
            #expect(record.accessToken == nil && record.refreshToken == nil)
            #expect(record.mountedFingerprint == fingerprint)
        }
    }
}
