import Foundation
import NIOConcurrencyHelpers
import SeededRandom

/// The fake provider's authorization server: knows the registered grants, issues random bearer tokens
/// and tells the sandbox SMTP server whether a presented token is one it issued. Thread-safe; every
/// operation is a short critical section, so it may be called from event loops.
public final class SandboxTokenIssuer: Sendable {
    let now: @Sendable () -> ContinuousClock.Instant
    let state: NIOLockedValueBox<State>
    /// Ties the injected clock to calendar time for JWT claims (iat, exp): a test that moves
    /// the clock moves "now" for assertions too.
    private let anchor: (instant: ContinuousClock.Instant, date: Date)

    public init(tokenLifetime: Duration = .seconds(3600), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.now = now
        self.anchor = (now(), Date())
        self.state = NIOLockedValueBox(State(tokenLifetime: tokenLifetime))
    }

    /// The calendar time by the issuer's clock: what JWT claims are checked against.
    public var currentDate: Date {
        date(at: now())
    }

    func date(at instant: ContinuousClock.Instant) -> Date {
        let elapsed = instant - anchor.instant
        return anchor.date.addingTimeInterval(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// Where the endpoint serving this issuer listens, e.g. "http://127.0.0.1:PORT" (set when it binds).
    public var baseURL: String {
        state.withLockedValue { $0.baseURL }
    }

    /// The token URL assertions must name as `aud`, and the `token_uri` of service account keys.
    public var tokenURL: String {
        baseURL + SandboxTokenHTTPHandler.path
    }

    func setBaseURL(_ url: String) {
        state.withLockedValue { $0.baseURL = url }
    }

    // MARK: - Configuration

    /// A known refresh-token grant. Registering a client again with another secret replaces the secret.
    public func register(email: String, clientID: String, clientSecret: String?, refreshToken: String) {
        state.withLockedValue { state in
            state.clientSecrets[clientID] = Self.normalised(clientSecret)
            state.refreshGrants[refreshToken] = RefreshGrant(email: email, clientID: clientID)
        }
    }

    /// A client allowed to use grant_type=client_credentials with a secret and any (or no)
    /// scope; its tokens are for `email`. `registerApplication` is the Entra ID-like form.
    public func registerClientCredentials(email: String, clientID: String, clientSecret: String) {
        state.withLockedValue { state in
            state.clientSecrets[clientID] = Self.normalised(clientSecret)
            state.applications[clientID] = SandboxApplication(secret: Self.normalised(clientSecret), scope: .mailbox(email), requiredScope: nil)
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

    /// True if this issuer issued `token`, it has not expired and it may send as `email`
    /// (case-insensitive): the mailbox it was issued for, or one its application or service
    /// account may use. Metadata server tokens are good for no mailbox.
    public func validate(token: String, email: String) -> Bool {
        let now = self.now()
        return state.withLockedValue { state in
            guard let issued = state.accessTokens[token], now < issued.expiresAt else { return false }
            return issued.scope?.allows(email) ?? false
        }
    }

    /// How many access tokens were issued, over all grants.
    public func issuedTokenCount() -> Int {
        state.withLockedValue { $0.issuedCount }
    }

    /// Requests of `grantType` (a `grant_type` value or a `SandboxGrantType` name) from `client`
    /// (client id or service account email, case-insensitive), nil matching any; counted for the
    /// issuer's whole life. Requests failed on purpose are not in it.
    public func tokenRequestCount(grantType: String? = nil, client: String? = nil) -> Int {
        state.withLockedValue { $0.log.count(grantType: grantType, client: client) }
    }

    /// The newest requests (up to 10,000) matching, oldest first.
    public func tokenRequests(grantType: String? = nil, client: String? = nil) -> [SandboxTokenRequest] {
        state.withLockedValue { state in
            state.log.recent.filter { request in
                (grantType == nil || request.grantType == grantType)
                    && (client == nil || request.client?.lowercased() == client?.lowercased())
            }
        }
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
    /// which RFC 6749 §2.3.1 allows instead of form fields. `servedTokenURL` is the URL this request
    /// reached (from its Host header), accepted as an assertion's `aud` besides `tokenURL`.
    func answer(form: [String: String], basicAuth: (clientID: String, clientSecret: String)?,
                servedTokenURL: String? = nil) -> SandboxTokenOutcome {
        let now = self.now()
        let wallNow = date(at: now).timeIntervalSince1970
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
            var audiences: Set<String> = [state.baseURL + SandboxTokenHTTPHandler.path]
            if let servedTokenURL { audiences.insert(servedTokenURL) }
            // Only an existing federated issuer can have signed a valid token; none is made here.
            let request = Request(form: form, basicAuth: basicAuth, now: now, wallNow: wallNow, audiences: audiences, federated: state.federated)
            let answer = state.answer(grantType: grantType, request)
            state.log.record(SandboxTokenRequest(grantType: grantType, client: answer.client, credential: answer.credential,
                                                 subject: answer.subject, status: answer.outcome.status))
            return answer.outcome
        }
    }

    /// An empty secret counts as none, as with a form that sends `client_secret=`.
    static func normalised(_ secret: String?) -> String? {
        guard let secret, !secret.isEmpty else { return nil }
        return secret
    }
}

extension SandboxTokenIssuer {
    struct RefreshGrant {
        var email: String
        var clientID: String
    }

    struct IssuedToken {
        /// The mailboxes it may send as; nil for a metadata server token (good only for signJwt).
        var scope: SandboxMailboxScope?
        var expiresAt: ContinuousClock.Instant
    }

    /// One token request, with what every grant's checks need.
    struct Request {
        var form: [String: String]
        var basicAuth: (clientID: String, clientSecret: String)?
        var now: ContinuousClock.Instant
        /// Seconds since the epoch, by the same clock.
        var wallNow: Double
        var audiences: Set<String>
        var federated: SandboxFederatedTokenIssuer?

        var clientID: String? { basicAuth?.clientID ?? form["client_id"] }
        var presentedSecret: String? { SandboxTokenIssuer.normalised(basicAuth?.clientSecret ?? form["client_secret"]) }
    }

    /// The outcome and what the request log keeps of it.
    struct Answer {
        var outcome: SandboxTokenOutcome
        var client: String?
        var credential: String? = nil
        var subject: String? = nil
    }

    struct State {
        var tokenLifetime: Duration
        var rotateRefreshTokens = false
        /// Client id → secret (nil for a public client).
        var clientSecrets: [String: String?] = [:]
        /// Refresh token → grant.
        var refreshGrants: [String: RefreshGrant] = [:]
        /// Client id → application allowed client_credentials.
        var applications: [String: SandboxApplication] = [:]
        /// Client assertion jti → its exp, for replay detection.
        var assertionIDs: [String: Double] = [:]
        /// Lowercased email → service account.
        var serviceAccounts: [String: SandboxServiceAccount] = [:]
        /// Service accounts a workload holding a metadata server token may signJwt as (lowercased);
        /// nil: the metadata server has no service account to hand out.
        var workloadServiceAccounts: Set<String>?
        var devices = SandboxDeviceAuthorizations()
        var authorizationCodes = SandboxAuthorizationCodes()
        var log = SandboxTokenRequestLog()
        var baseURL = "http://sandbox.invalid"
        var federated: SandboxFederatedTokenIssuer?
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
            issue(scope: .mailbox(email), now: now, refreshToken: refreshToken)
        }

        mutating func issue(scope: SandboxMailboxScope?, now: ContinuousClock.Instant, refreshToken: String?) -> SandboxTokenOutcome {
            let token = SandboxRandomToken.make(prefix: "sbx_at_")
            issuedCount += 1
            if issuedCount % Self.sweepInterval == 0 {
                accessTokens = accessTokens.filter { now < $0.value.expiresAt }
            }
            accessTokens[token] = IssuedToken(scope: scope, expiresAt: now + tokenLifetime)
            // expires_in is whole seconds on the wire; rounding down keeps clients on the safe side.
            let seconds = max(1, Int(tokenLifetime.components.seconds))
            return .issued(accessToken: token, expiresIn: seconds, refreshToken: refreshToken)
        }

        /// A new refresh grant for `email` and the first access token from it (device and
        /// authorization code flows).
        mutating func issueWithRefreshToken(for email: String, clientID: String, now: ContinuousClock.Instant) -> (SandboxTokenOutcome, String) {
            let refreshToken = SandboxRandomToken.make(prefix: "sbx_rt_")
            refreshGrants[refreshToken] = RefreshGrant(email: email, clientID: clientID)
            return (issue(for: email, now: now, refreshToken: refreshToken), refreshToken)
        }

        mutating func answer(grantType: String, _ request: Request) -> Answer {
            switch grantType {
            case SandboxGrantType.clientCredentials:
                return answerClientCredentials(request)
            case SandboxGrantType.jwtBearer:
                return answerJWTBearer(request)
            case SandboxGrantType.deviceCode:
                return answerDeviceCode(request)
            default:
                break
            }
            guard let clientID = request.clientID else {
                return Answer(outcome: .error(status: 401, code: "invalid_client", description: "Missing client_id."))
            }
            guard let registeredSecret = clientSecrets[clientID], registeredSecret == request.presentedSecret else {
                return Answer(outcome: .error(status: 401, code: "invalid_client", description: "Unknown client or wrong client secret."), client: clientID)
            }
            switch grantType {
            case SandboxGrantType.refreshToken:
                guard let refreshToken = request.form["refresh_token"] else {
                    return Answer(outcome: .error(status: 400, code: "invalid_request", description: "Missing refresh_token."), client: clientID)
                }
                guard let grant = refreshGrants[refreshToken], grant.clientID == clientID else {
                    return Answer(outcome: .error(status: 400, code: "invalid_grant", description: "Token has been expired or revoked."), client: clientID)
                }
                var rotated: String?
                if rotateRefreshTokens {
                    let next = SandboxRandomToken.make(prefix: "sbx_rt_")
                    refreshGrants[refreshToken] = nil
                    refreshGrants[next] = grant
                    rotated = next
                }
                return Answer(outcome: issue(for: grant.email, now: request.now, refreshToken: rotated), client: clientID, subject: grant.email)
            case SandboxGrantType.authorizationCode:
                return answerAuthorizationCode(request, clientID: clientID)
            default:
                return Answer(outcome: .error(status: 400, code: "unsupported_grant_type", description: "Supported: refresh_token, client_credentials, jwt-bearer, device_code, authorization_code."), client: clientID)
            }
        }
    }
}
