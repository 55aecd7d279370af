import AsyncHTTPClient
import FleetState
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import OAuth2
import Sandbox
import TestSupport

/// The sandbox's token endpoint and one clock for everything that tells time: the issuer's
/// expiries, the caches' freshness and the stores' wall clock move together when the test
/// advances it, so tokens expire without anyone sleeping.
final class TokenFleet: Sendable {
    static let email = "sales@example.com"
    static let clientID = "fleet-client"
    static let clientSecret = "fleet-client-secret"
    static let mounted = "rt-mounted-0"
    static let stateKey = try! StateKey(parsing: (0..<32).map { UInt8($0) }, path: "test-key")
    static let otherStateKey = try! StateKey(parsing: (0..<32).map { UInt8(255 - $0) }, path: "other-test-key")

    let clock: ManualClock
    let anchor: (instant: ContinuousClock.Instant, date: Date)
    let issuer: SandboxTokenIssuer
    let endpoint: SandboxTokenEndpoint
    let http: HTTPClient

    private init(issuer: SandboxTokenIssuer, endpoint: SandboxTokenEndpoint, http: HTTPClient, clock: ManualClock) {
        self.issuer = issuer
        self.endpoint = endpoint
        self.http = http
        self.clock = clock
        self.anchor = (clock.now, Date())
    }

    /// A fleet whose sandbox knows one refresh-token grant (`mounted`), always shut down.
    static func with<T>(_ body: (TokenFleet) async throws -> T) async throws -> T {
        let clock = ManualClock()
        let issuer = SandboxTokenIssuer(tokenLifetime: .seconds(3600), now: { clock.now })
        issuer.register(email: email, clientID: clientID, clientSecret: clientSecret, refreshToken: mounted)
        let endpoint = try await SandboxTokenEndpoint.start(issuer: issuer, group: MultiThreadedEventLoopGroup.singleton, logger: quietLogger)
        let http = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton))
        let fleet = TokenFleet(issuer: issuer, endpoint: endpoint, http: http, clock: clock)
        do {
            let result = try await body(fleet)
            try await http.shutdown()
            try await endpoint.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            try? await endpoint.shutdown()
            throw error
        }
    }

    var wallClock: @Sendable () -> Date {
        { [self] in anchor.date.addingTimeInterval(FleetTokenTestMath.seconds(clock.now - anchor.instant)) }
    }

    func credentials(refreshToken: String = TokenFleet.mounted) -> OAuth2Credentials {
        OAuth2Credentials(tokenURL: endpoint.url, clientID: Self.clientID, clientSecret: Self.clientSecret,
                          refreshToken: refreshToken, scope: nil)
    }

    /// Token requests the sandbox answered for the grant.
    var refreshes: Int { issuer.tokenRequestCount(grantType: SandboxGrantType.refreshToken) }

    func store(_ database: FleetDatabase, key: StateKey = TokenFleet.stateKey, timeout: Duration? = nil,
               logger: Logger = quietLogger) -> FleetTokenStore {
        FleetTokenStore(database: database, key: key, timeout: timeout, wallClock: wallClock, logger: logger)
    }

    /// One replica's cache on `database`, registered with the mounted token. A nil database is a
    /// replica without a shared store. `polls` counts the waits between the store's reads.
    func replica(_ database: FleetDatabase?, key: StateKey = TokenFleet.stateKey, timeout: Duration? = nil,
                 transport: (any TokenHTTPTransport)? = nil, mounted: String = TokenFleet.mounted,
                 registering: (credentials: OAuth2Credentials, cacheKey: String)? = nil, polls: NIOLockedValueBox<Int>? = nil, logger: Logger = quietLogger) -> TokenCache {
        var configuration = RefreshTokenGrant.Configuration()
        configuration.requestTimeout = .seconds(60)
        configuration.maxAttempts = 1
        let grant = RefreshTokenGrant(transport: transport ?? AsyncHTTPClientTransport(client: http), configuration: configuration,
                                      now: { [self] in clock.now })
        let sharing = database.map { database in
            TokenSharing(store: store(database, key: key, timeout: timeout, logger: logger), maximumWait: .seconds(30), pollInterval: .milliseconds(5),
                         sleep: { duration in
                             polls?.withLockedValue { $0 += 1 }
                             try await Task.sleep(for: duration)
                         })
        }
        let cache = TokenCache(grant: grant, now: { [self] in clock.now }, logger: logger, sharing: sharing)
        let registration = registering ?? (credentials(refreshToken: mounted), Self.email)
        cache.setCredentials(registration.credentials, forKey: registration.cacheKey)
        return cache
    }
}

/// A migrated database with `replicas` handles on it, and the sandbox's fleet.
func withTokenFleet(replicas: Int = 2, _ body: (TokenFleet, [FleetDatabase]) async throws -> Void) async throws {
    try await withMigratedFleet(replicas: replicas) { _, databases async throws in
        try await TokenFleet.with { fleet in try await body(fleet, databases) }
    }
}

enum FleetTokenTestMath {
    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// The production transport, with token requests held back while the test says so: a replica
/// can be stopped in the middle of its refresh, holding the lease.
final class GatedTransport: TokenHTTPTransport {
    private let inner: any TokenHTTPTransport
    private let state = NIOLockedValueBox((held: false, waiting: [CheckedContinuation<Void, Never>]()))

    init(_ inner: any TokenHTTPTransport) {
        self.inner = inner
    }

    func hold() {
        state.withLockedValue { $0.held = true }
    }

    /// Requests waiting for `release`.
    var waiting: Int { state.withLockedValue { $0.waiting.count } }

    func release() {
        let waiting = state.withLockedValue { state in
            defer { state = (false, []) }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    func postForm(url: String, body: String, timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let go = state.withLockedValue { state in
                guard state.held else { return true }
                state.waiting.append(continuation)
                return false
            }
            if go { continuation.resume() }
        }
        return try await inner.postForm(url: url, body: body, timeout: timeout)
    }
}
