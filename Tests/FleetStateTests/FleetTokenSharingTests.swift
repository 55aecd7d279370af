import AsyncHTTPClient
import FleetState
import Foundation
import NIOConcurrencyHelpers
import OAuth2
import PostgresTestSupport
import Sandbox
import TestSupport
import Testing

/// Two `TokenCache`s as two replicas on one database and one sandbox token endpoint.
@Suite("Fleet token sharing between replicas", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
struct FleetTokenSharingTests {
    static let email = TokenFleet.email

    @Test("an expired token is refreshed once for both replicas, and both use that one token")
    func refreshedOnceForTheFleet() async throws {
        try await withTokenFleet { fleet, databases in
            let a = fleet.replica(databases[0]), b = fleet.replica(databases[1])
            let first = try await a.accessToken(forKey: Self.email)
            #expect(try await b.accessToken(forKey: Self.email).value == first.value)
            #expect(fleet.refreshes == 1)

            fleet.clock.advance(by: .seconds(3600))
            async let fromA = a.accessToken(forKey: Self.email)
            async let fromB = b.accessToken(forKey: Self.email)
            let (tokenA, tokenB) = try await (fromA, fromB)
            #expect(tokenA.value == tokenB.value)
            #expect(tokenA.value != first.value)
            #expect(fleet.issuer.validate(token: tokenA.value, email: Self.email))
            #expect(fleet.refreshes == 2)
        }
    }

    @Test("a replica that finds the lease held waits for the holder's token instead of refreshing")
    func loserGetsTheWinnersToken() async throws {
        try await withTokenFleet { fleet, databases in
            let gate = GatedTransport(AsyncHTTPClientTransport(client: fleet.http))
            let polls = NIOLockedValueBox(0)
            let a = fleet.replica(databases[0], transport: gate), b = fleet.replica(databases[1], polls: polls)
            gate.hold()
            let winner = Task { try await a.accessToken(forKey: Self.email) }
            // A's request is out: it holds the lease.
            #expect(await eventually { gate.waiting == 1 })
            let loser = Task { try await b.accessToken(forKey: Self.email) }
            #expect(await eventually { polls.withLockedValue { $0 } >= 2 })
            #expect(fleet.refreshes == 0)
            gate.release()
            let (tokenA, tokenB) = try await (winner.value, loser.value)
            #expect(tokenA.value == tokenB.value)
            #expect(fleet.refreshes == 1)
        }
    }

    @Test("a token the upstream refused is not taken from the store again: the replica refreshes, and shares the new one")
    func refusedTokenIsReplaced() async throws {
        try await withTokenFleet { fleet, databases in
            let a = fleet.replica(databases[0]), b = fleet.replica(databases[1])
            let first = try await a.accessToken(forKey: Self.email)
            #expect(try await b.accessToken(forKey: Self.email).value == first.value)
            let replacement = try await b.accessToken(forKey: Self.email, replacing: first)
            #expect(replacement.value != first.value)
            #expect(fleet.refreshes == 2)
            // A learns of the refusal later and finds B's token in the store.
            #expect(try await a.accessToken(forKey: Self.email, replacing: first).value == replacement.value)
            #expect(fleet.refreshes == 2)
        }
    }

    @Test("a rotated refresh token published by one replica is used by another after the first is gone")
    func rotatedRefreshTokenOutlivesItsReplica() async throws {
        try await withTokenFleet { fleet, databases in
            fleet.issuer.rotateRefreshTokens = true
            do {
                let a = fleet.replica(databases[0])
                _ = try await a.accessToken(forKey: Self.email)
                let rotated = try #require(fleet.issuer.currentRefreshToken(email: Self.email))
                #expect(rotated != TokenFleet.mounted)
                #expect(a.currentRefreshToken(forKey: Self.email) == rotated)
            }
            // The mounted token no longer works: only the one A stored can refresh.
            fleet.clock.advance(by: .seconds(3600))
            let b = fleet.replica(databases[1])
            let token = try await b.accessToken(forKey: Self.email)
            #expect(fleet.issuer.validate(token: token.value, email: Self.email))
            #expect(fleet.refreshes == 2)
            let latest = try #require(fleet.issuer.currentRefreshToken(email: Self.email))
            #expect(b.currentRefreshToken(forKey: Self.email) == latest)
            let record = try await fleet.store(databases[1]).record(forKey: Self.email)
            #expect(record?.refreshToken == latest)
            #expect(record?.mountedFingerprint == FleetTokenStore.fingerprint(ofMounted: TokenFleet.mounted))
        }
    }

    @Test("a replica whose mounted refresh token differs from the row's origin uses the mounted one and overwrites the row")
    func mountedTokenWins() async throws {
        try await withTokenFleet { fleet, databases in
            fleet.issuer.rotateRefreshTokens = true
            let a = fleet.replica(databases[0])
            let oldToken = try await a.accessToken(forKey: Self.email)
            // The operator issues a new refresh token and revokes the old chain.
            let oldChain = try #require(fleet.issuer.currentRefreshToken(email: Self.email))
            fleet.issuer.revoke(refreshToken: oldChain)
            fleet.issuer.register(email: Self.email, clientID: TokenFleet.clientID, clientSecret: TokenFleet.clientSecret,
                                  refreshToken: "rt-mounted-by-hand")
            let b = fleet.replica(databases[1], mounted: "rt-mounted-by-hand")
            let token = try await b.accessToken(forKey: Self.email)
            #expect(token.value != oldToken.value)
            #expect(fleet.issuer.validate(token: token.value, email: Self.email))
            let record = try #require(try await fleet.store(databases[1]).record(forKey: Self.email))
            #expect(record.mountedFingerprint == FleetTokenStore.fingerprint(ofMounted: "rt-mounted-by-hand"))
            #expect(record.refreshToken == fleet.issuer.currentRefreshToken(email: Self.email))
            #expect(record.accessToken == token.value)
        }
    }

    @Test("a row sealed under another state key is treated as absent and logged without secrets; the replica refreshes")
    func otherKeysRowIsAbsent() async throws {
        try await withTokenFleet { fleet, databases in
            let a = fleet.replica(databases[0])
            let first = try await a.accessToken(forKey: Self.email)
            let log = CapturedLog()
            let b = fleet.replica(databases[1], key: TokenFleet.otherStateKey, logger: log.logger)
            let token = try await b.accessToken(forKey: Self.email)
            #expect(token.value != first.value)
            #expect(fleet.refreshes == 2)
            let lines = log.messages.withLockedValue { $0 }
            #expect(lines.filter { $0.contains("does not decrypt") }.count == 1, "\(lines)")
            #expect(!lines.contains { $0.contains(first.value) || $0.contains(token.value) || $0.contains(TokenFleet.mounted) })
            // B's row now opens under B's key only.
            #expect(try await fleet.store(databases[1], key: TokenFleet.otherStateKey).record(forKey: Self.email)?.accessToken == token.value)
            #expect(try await fleet.store(databases[0]).record(forKey: Self.email)?.accessToken == nil)
        }
    }

    @Test("app-only tokens with a client secret share one row although each process salts its cache key differently")
    func clientSecretCredentialsShareOneRow() async throws {
        try await withTokenFleet { fleet, databases in
            fleet.issuer.registerClientCredentials(email: Self.email, clientID: "app-client", clientSecret: "app-secret")
            let app = OAuth2Credentials(tokenURL: fleet.endpoint.url, clientID: "app-client",
                                        grant: .clientCredentials(.secret("app-secret")), scope: "https://mail.example/.default")
            let a = fleet.replica(databases[0], registering: (app, "process-1 salted key"))
            let b = fleet.replica(databases[1], registering: (app, "process-2 salted key"))
            let first = try await a.accessToken(forKey: "process-1 salted key")
            #expect(try await b.accessToken(forKey: "process-2 salted key").value == first.value)
            #expect(fleet.issuer.tokenRequestCount(grantType: SandboxGrantType.clientCredentials) == 1)

            let store = fleet.store(databases[0])
            let key = store.sharedKey(forCacheKey: "process-1 salted key", credentials: app)
            #expect(!key.contains("app-secret"))
            #expect(try await store.record(forKey: key)?.accessToken == first.value)
            var otherSecret = app
            otherSecret.grant = .clientCredentials(.secret("another-secret"))
            #expect(store.sharedKey(forCacheKey: "k", credentials: otherSecret) != key)
            #expect(store.sharedKey(forCacheKey: "k", credentials: fleet.credentials()) == "k")
        }
    }
}
