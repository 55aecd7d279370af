import NIOConcurrencyHelpers
import Resilience

/// The fake provider's authorization server: knows the registered grants, issues random bearer tokens
/// and tells the sandbox SMTP server whether a presented token is one it issued. Thread-safe; every
/// operation is a short critical section, so it may be called from event loops.
public final class SandboxTokenIssuer: Sendable {
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state: NIOLockedValueBox<State>

    public init(tokenLifetime: Duration = .seconds(3600), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.now = now
        self.state = NIOLockedValueBox(State(tokenLifetime: tokenLifetime))
    }

    // MARK: - Configuration

    /// A known refresh-token grant. Registering a client again with another secret replaces the secret.
    public func register(email: String, clientID: String, clientSecret: String?, refreshToken: String) {
        state.withLockedValue { state in
            state.clientSecrets[clientID] = Self.normalised(clientSecret)
            state.refreshGrants[refreshToken] = RefreshGrant(email: email, clientID: clientID)
        }
    }

    /// A client allowed to use grant_type=client_credentials; its tokens are for `email`.
    public func registerClientCredentials(email: String, clientID: String, clientSecret: String) {
        state.withLockedValue { state in
            state.clientSecrets[clientID] = Self.normalised(clientSecret)
            state.clientCredentialEmails[clientID] = email
        }
    }

    /// For tokens issued from now on; tokens already out keep their expiry.
    public var tokenLifetime: Duration {
        get { state.withLockedValue { $0.tokenLifetime } }
        set { state.withLockedValue { $0.tokenLifetime = newValue } }
    }

    /// When true, each refresh answers a new refresh_token and the one presented stops working
    /// (as Microsoft's endpoint may do), so clients must keep the rotated one.
    public var rotateRefreshTokens: Bool {
        get { state.withLockedValue { $0.rotateRefreshTokens } }
        set { state.withLockedValue { $0.rotateRefreshTokens = newValue } }
    }

    /// Later requests presenting it get 400 invalid_grant.
    public func revoke(refreshToken: String) {
        _ = state.withLockedValue { $0.refreshGrants.removeValue(forKey: refreshToken) }
    }

    /// The next `n` token requests (of any kind) are answered with `status` and a JSON error.
    public func failNextRequests(_ n: Int, status: Int = 500) {
        state.withLockedValue { state in
            state.injectedFailures = max(0, n)
            state.injectedStatus = status
        }
    }

    /// From now on each token request (of any kind) fails with probability `rate` (clamped to
    /// 0...1), answered with `status` and a temporarily_unavailable JSON error; 0 turns it off.
    /// Requests already set to fail by `failNextRequests` fail first. The draws follow `seed`.
    public func setFailureRate(_ rate: Double, seed: UInt64 = 1, status: Int = 503) {
        state.withLockedValue { state in
            state.failureRate = min(max(rate, 0), 1)
            state.failureStatus = status
            state.failureGenerator = SplitMix64(seed: seed)
        }
    }

    // MARK: - Observation

    /// True if this issuer issued `token` for exactly `email` (case-insensitive) and it has not expired.
    public func validate(token: String, email: String) -> Bool {
        let now = self.now()
        return state.withLockedValue { state in
            guard let issued = state.accessTokens[token] else { return false }
            return issued.email == email.lowercased() && now < issued.expiresAt
        }
    }

    /// How many access tokens were issued, over all grants.
    public func issuedTokenCount() -> Int {
        state.withLockedValue { $0.issuedCount }
    }

    /// How many token requests were failed on purpose, by `failNextRequests` or `setFailureRate`.
    public var failedRequestCount: Int {
        state.withLockedValue { $0.failedCount }
    }

    /// The refresh token currently valid for `email`'s refresh grant, e.g. after rotation.
    public func currentRefreshToken(email: String) -> String? {
        state.withLockedValue { state in
            state.refreshGrants.first { $0.value.email.lowercased() == email.lowercased() }?.key
        }
    }

    // MARK: - Token requests

    /// Answers one token request. `basicAuth` is the client id/secret from an Authorization header,
    /// which RFC 6749 §2.3.1 allows instead of form fields.
    func answer(form: [String: String], basicAuth: (clientID: String, clientSecret: String)?) -> SandboxTokenOutcome {
        let now = self.now()
        return state.withLockedValue { state in
            if state.injectedFailures > 0 {
                state.injectedFailures -= 1
                state.failedCount += 1
                return .error(status: state.injectedStatus, code: "temporarily_unavailable",
                              description: "injected failure (HTTP \(state.injectedStatus))")
            }
            if state.failureRate > 0, state.failureGenerator.unit() < state.failureRate {
                state.failedCount += 1
                return .error(status: state.failureStatus, code: "temporarily_unavailable",
                              description: "injected random failure (HTTP \(state.failureStatus))")
            }
            guard let grantType = form["grant_type"] else {
                return .error(status: 400, code: "invalid_request", description: "Missing grant_type.")
            }
            guard let clientID = basicAuth?.clientID ?? form["client_id"] else {
                return .error(status: 401, code: "invalid_client", description: "Missing client_id.")
            }
            let presentedSecret = Self.normalised(basicAuth?.clientSecret ?? form["client_secret"])
            guard let registeredSecret = state.clientSecrets[clientID], registeredSecret == presentedSecret else {
                return .error(status: 401, code: "invalid_client", description: "Unknown client or wrong client secret.")
            }
            switch grantType {
            case "refresh_token":
                guard let refreshToken = form["refresh_token"] else {
                    return .error(status: 400, code: "invalid_request", description: "Missing refresh_token.")
                }
                guard let grant = state.refreshGrants[refreshToken], grant.clientID == clientID else {
                    return .error(status: 400, code: "invalid_grant", description: "Token has been expired or revoked.")
                }
                var rotated: String?
                if state.rotateRefreshTokens {
                    let next = SandboxRandomToken.make(prefix: "sbx_rt_")
                    state.refreshGrants[refreshToken] = nil
                    state.refreshGrants[next] = grant
                    rotated = next
                }
                return state.issue(for: grant.email, now: now, refreshToken: rotated)
            case "client_credentials":
                guard let email = state.clientCredentialEmails[clientID] else {
                    return .error(status: 400, code: "unauthorized_client", description: "Client may not use client_credentials.")
                }
                return state.issue(for: email, now: now, refreshToken: nil)
            default:
                return .error(status: 400, code: "unsupported_grant_type", description: "Only refresh_token and client_credentials.")
            }
        }
    }

    /// An empty secret counts as none, as with a form that sends `client_secret=`.
    private static func normalised(_ secret: String?) -> String? {
        guard let secret, !secret.isEmpty else { return nil }
        return secret
    }
}

extension SandboxTokenIssuer {
    private struct RefreshGrant {
        var email: String
        var clientID: String
    }

    private struct IssuedToken {
        /// Lowercased, as compared.
        var email: String
        var expiresAt: ContinuousClock.Instant
    }

    private struct State {
        var tokenLifetime: Duration
        var rotateRefreshTokens = false
        /// Client id → secret (nil for a public client).
        var clientSecrets: [String: String?] = [:]
        /// Refresh token → grant.
        var refreshGrants: [String: RefreshGrant] = [:]
        /// Client id → account of its client_credentials tokens.
        var clientCredentialEmails: [String: String] = [:]
        var accessTokens: [String: IssuedToken] = [:]
        var issuedCount = 0
        var injectedFailures = 0
        var injectedStatus = 500
        var failureRate = 0.0
        var failureStatus = 503
        var failureGenerator = SplitMix64(seed: 1)
        /// Injected failures of both kinds.
        var failedCount = 0

        /// Long benchmark runs issue many tokens; expired ones are swept every this many issues.
        static let sweepInterval = 1024

        mutating func issue(for email: String, now: ContinuousClock.Instant, refreshToken: String?) -> SandboxTokenOutcome {
            let token = SandboxRandomToken.make(prefix: "sbx_at_")
            issuedCount += 1
            if issuedCount % Self.sweepInterval == 0 {
                accessTokens = accessTokens.filter { now < $0.value.expiresAt }
            }
            accessTokens[token] = IssuedToken(email: email.lowercased(), expiresAt: now + tokenLifetime)
            // expires_in is whole seconds on the wire; rounding down keeps clients on the safe side.
            let seconds = max(1, Int(tokenLifetime.components.seconds))
            return .issued(accessToken: token, expiresIn: seconds, refreshToken: refreshToken)
        }
    }
}
