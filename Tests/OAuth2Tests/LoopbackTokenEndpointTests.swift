import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
@testable import OAuth2
@testable import Sandbox

/// RefreshTokenGrant over AsyncHTTPClient against a real SandboxTokenEndpoint on loopback.
@Suite(.timeLimit(.minutes(5))) struct LoopbackTokenEndpointTests {
    /// One endpoint and one HTTP client, always shut down, even when the body throws.
    private static func withEndpoint(
        lifetime: Duration = .seconds(3600),
        _ body: (SandboxTokenIssuer, SandboxTokenEndpoint, HTTPClient) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let issuer = SandboxTokenIssuer(tokenLifetime: lifetime)
        let endpoint = try await SandboxTokenEndpoint.start(issuer: issuer, group: group, logger: Logger(label: "sandbox-token"))
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
        do {
            try await body(issuer, endpoint, client)
        } catch {
            try await client.shutdown()
            try await endpoint.shutdown()
            throw error
        }
        try await client.shutdown()
        try await endpoint.shutdown()
    }

    private static func credentials(_ endpoint: SandboxTokenEndpoint, refreshToken: String = "rt-loop") -> OAuth2Credentials {
        OAuth2Credentials(tokenURL: endpoint.url, clientID: "loop-client", clientSecret: "loop-secret", refreshToken: refreshToken, scope: "https://mail.example/")
    }

    private static func fastGrant(_ client: HTTPClient) -> RefreshTokenGrant {
        var configuration = RefreshTokenGrant.Configuration()
        configuration.initialBackoff = .milliseconds(5)
        configuration.maxBackoff = .milliseconds(20)
        // Not a timing assertion: long enough that a loaded CI machine never turns a slow reply
        // into a failed test (10 s once did, at load average 10).
        configuration.requestTimeout = .seconds(60)
        return RefreshTokenGrant(transport: AsyncHTTPClientTransport(client: client), configuration: configuration)
    }

    @Test func successAndKeepAlive() async throws {
        try await Self.withEndpoint { issuer, endpoint, client in
            issuer.register(email: "user@example.com", clientID: "loop-client", clientSecret: "loop-secret", refreshToken: "rt-loop")
            #expect(endpoint.url == "http://127.0.0.1:\(endpoint.port)/token")
            let grant = Self.fastGrant(client)
            let before = ContinuousClock.now
            for _ in 0..<5 {
                let (token, rotated) = try await grant.fetch(Self.credentials(endpoint))
                #expect(rotated == nil)
                #expect(issuer.validate(token: token.value, email: "USER@example.com"))
                #expect(token.expiresAt >= before + .seconds(3600))
                #expect(token.expiresAt <= ContinuousClock.now + .seconds(3600))
            }
            #expect(issuer.issuedTokenCount() == 5)
            #expect(endpoint.acceptedConnectionCount() == 1)
        }
    }

    @Test func invalidGrantIsRejectedWithoutRetry() async throws {
        try await Self.withEndpoint { issuer, endpoint, client in
            issuer.register(email: "user@example.com", clientID: "loop-client", clientSecret: "loop-secret", refreshToken: "rt-loop")
            issuer.revoke(refreshToken: "rt-loop")
            await #expect(throws: TokenError.credentialsRejected("invalid_grant: Token has been expired or revoked.")) {
                try await Self.fastGrant(client).fetch(Self.credentials(endpoint))
            }
            var wrongSecret = Self.credentials(endpoint)
            wrongSecret.clientSecret = "nope"
            await #expect(throws: TokenError.credentialsRejected("invalid_client: Unknown client or wrong client secret.")) {
                try await Self.fastGrant(client).fetch(wrongSecret)
            }
        }
    }

    @Test func injectedServerErrorIsRetried() async throws {
        try await Self.withEndpoint { issuer, endpoint, client in
            issuer.register(email: "user@example.com", clientID: "loop-client", clientSecret: "loop-secret", refreshToken: "rt-loop")
            issuer.failNextRequests(2, status: 500)
            let (token, _) = try await Self.fastGrant(client).fetch(Self.credentials(endpoint))
            #expect(issuer.validate(token: token.value, email: "user@example.com"))
            issuer.failNextRequests(3, status: 503)
            let error = await #expect(throws: TokenError.self) { try await Self.fastGrant(client).fetch(Self.credentials(endpoint)) }
            guard case .unavailable(let detail)? = error else {
                Issue.record("expected unavailable, got \(String(describing: error))")
                return
            }
            #expect(detail.contains("HTTP 503"))
            #expect(issuer.issuedTokenCount() == 1)
        }
    }

    @Test func clientCredentialsGrantOverHTTP() async throws {
        try await Self.withEndpoint { issuer, endpoint, client in
            issuer.registerClientCredentials(email: "bench@example.com", clientID: "bench", clientSecret: "b s+cret")
            let transport = AsyncHTTPClientTransport(client: client)
            let body = FormURLEncoding.encode([("grant_type", "client_credentials"), ("client_id", "bench"), ("client_secret", "b s+cret")])
            let (status, bytes) = try await transport.postForm(url: endpoint.url, body: body, timeout: .seconds(60))
            #expect(status == 200)
            guard case .token(let value, let expiresIn, nil) = TokenReply.classify(status: status, body: bytes) else {
                Issue.record("expected a token reply")
                return
            }
            #expect(expiresIn == .seconds(3600))
            #expect(issuer.validate(token: value, email: "bench@example.com"))
        }
    }

    @Test func rotationThroughTheCache() async throws {
        try await Self.withEndpoint { issuer, endpoint, client in
            issuer.register(email: "user@example.com", clientID: "loop-client", clientSecret: "loop-secret", refreshToken: "rt-loop")
            issuer.rotateRefreshTokens = true
            let cache = TokenCache(grant: Self.fastGrant(client), logger: Logger(label: "cache"))
            cache.setCredentials(Self.credentials(endpoint), forKey: "user")
            let first = try await cache.accessToken(forKey: "user")
            let rotated = try #require(cache.currentRefreshToken(forKey: "user"))
            #expect(rotated != "rt-loop")
            #expect(rotated == issuer.currentRefreshToken(email: "user@example.com"))
            // The old refresh token is dead now; the next refresh only works with the rotated one.
            let second = try await cache.accessToken(forKey: "user", replacing: first)
            #expect(second != first)
            #expect(issuer.validate(token: second.value, email: "user@example.com"))
            #expect(cache.currentRefreshToken(forKey: "user") == issuer.currentRefreshToken(email: "user@example.com"))
            await #expect(throws: TokenError.self) { try await Self.fastGrant(client).fetch(Self.credentials(endpoint)) }
        }
    }

    @Test func concurrentCallersThroughTheCacheCauseOneIssue() async throws {
        try await Self.withEndpoint { issuer, endpoint, client in
            issuer.register(email: "user@example.com", clientID: "loop-client", clientSecret: "loop-secret", refreshToken: "rt-loop")
            let cache = TokenCache(grant: Self.fastGrant(client), logger: Logger(label: "cache"))
            cache.setCredentials(Self.credentials(endpoint), forKey: "user")
            let values = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<50 { group.addTask { try await cache.accessToken(forKey: "user").value } }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(values.count == 1)
            #expect(issuer.issuedTokenCount() == 1)
        }
    }

    @Test func nonTokenRequestsGetHTTPErrors() async throws {
        try await Self.withEndpoint { _, endpoint, client in
            let base = "http://127.0.0.1:\(endpoint.port)"
            func send(_ method: HTTPMethod, _ path: String, body: String = "", contentType: String = "application/x-www-form-urlencoded") async throws -> (Int, String) {
                var request = HTTPClientRequest(url: base + path)
                request.method = method
                request.headers.add(name: "Content-Type", value: contentType)
                if method == .POST { request.body = .bytes(ByteBuffer(string: body)) }
                let response = try await client.execute(request, timeout: .seconds(60))
                let bytes = try await response.body.collect(upTo: 1 << 20)
                return (Int(response.status.code), String(buffer: bytes))
            }
            #expect(try await send(.GET, "/token").0 == 405)
            #expect(try await send(.POST, "/elsewhere", body: "grant_type=x").0 == 404)
            #expect(try await send(.POST, "/token", body: "grant_type=password&client_id=x").0 == 401)
            #expect(try await send(.POST, "/token", body: "{}", contentType: "application/json").0 == 400)
            let (status, text) = try await send(.POST, "/token", body: String(repeating: "a", count: 70_000))
            #expect(status == 413)
            #expect(text.contains("invalid_request"))
        }
    }

    @Test func shutdownClosesKeptAliveConnections() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let issuer = SandboxTokenIssuer()
        issuer.register(email: "u@x", clientID: "loop-client", clientSecret: "loop-secret", refreshToken: "rt-loop")
        let endpoint = try await SandboxTokenEndpoint.start(issuer: issuer, group: group, logger: Logger(label: "t"))
        let client = HTTPClient(eventLoopGroupProvider: .shared(group))
        _ = try await Self.fastGrant(client).fetch(Self.credentials(endpoint))
        try await endpoint.shutdown()
        try await endpoint.shutdown() // idempotent
        // The kept-alive connection and the listener are gone: the next request cannot succeed.
        // (AsyncHTTPClient retries refused connects until its deadline, so keep that short.)
        var configuration = RefreshTokenGrant.Configuration()
        configuration.maxAttempts = 1
        configuration.requestTimeout = .milliseconds(300)
        let grant = RefreshTokenGrant(transport: AsyncHTTPClientTransport(client: client), configuration: configuration)
        await #expect(throws: TokenError.self) { try await grant.fetch(Self.credentials(endpoint)) }
        try await client.shutdown()
    }
}
