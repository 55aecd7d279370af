/// What a first consent yields: the refresh token the proxy will live on, and the access token
/// that came with it (only used to prove the grant works). Shared by the device flow and the
/// loopback redirect.
public struct ConsentTokens: Sendable, Equatable, CustomStringConvertible {
    public var refreshToken: String
    public var accessToken: String
    public var expiresIn: Duration

    public init(refreshToken: String, accessToken: String, expiresIn: Duration) {
        self.refreshToken = refreshToken
        self.accessToken = accessToken
        self.expiresIn = expiresIn
    }

    public var description: String {
        "ConsentTokens(refresh_token: <redacted>, access_token: <redacted>, expires_in: \(expiresIn.components.seconds) s)"
    }
}

/// Why no refresh token was obtained. Every message is fit for the terminal: provider text is
/// shortened, stripped of control characters and of anything we sent.
public enum ConsentFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The user (or an admin policy) said no: `access_denied`.
    case denied(String?)
    /// The code or the whole wait ran out before anyone approved.
    case expired(String)
    /// The provider refused the request itself (`invalid_client`, `unauthorized_client`, …).
    case rejected(code: String, detail: String?)
    /// The endpoint kept failing (5xx, timeouts, refused connections).
    case unavailable(String)
    /// A reply we cannot use.
    case malformed(String)
    /// Tokens came back without a refresh token: offline access was not granted.
    case noRefreshToken
    /// The redirect carried another `state` than the one we sent: not the answer to our request.
    case stateMismatch

    public var description: String {
        switch self {
        case .denied(let detail):
            "consent was refused (access_denied)" + (detail.map { ": \($0)" } ?? "")
        case .expired(let detail):
            detail
        case .rejected(let code, let detail):
            "the provider refused the request: \(code)" + (detail.map { ": \($0)" } ?? "")
        case .unavailable(let detail):
            "the provider could not be reached: \(detail)"
        case .malformed(let detail):
            "unusable reply from the provider: \(detail)"
        case .noRefreshToken:
            "the provider returned no refresh token (offline access was not granted: for Microsoft the scope needs offline_access, for Google access_type=offline)"
        case .stateMismatch:
            "the redirect's state does not match this request (a stale or forged redirect); nothing was exchanged"
        }
    }
}

/// One reply of a token endpoint to a consent grant (device code or authorization code).
enum ConsentTokenReply: Equatable {
    case tokens(ConsentTokens)
    /// An OAuth error: `authorization_pending`, `slow_down`, `access_denied`, `invalid_grant`, …
    case oauthError(code: String, detail: String?)
    /// Worth asking again: 5xx, 408, 429 without an OAuth error we act on.
    case transient(String)
    case failure(ConsentFailure)

    /// `secrets` (what the request carried) are cut out of any provider text kept.
    static func classify(status: Int, body: [UInt8], secrets: [String]) -> ConsentTokenReply {
        switch TokenReply.classify(status: status, body: body, secrets: secrets) {
        case .token(let value, let expiresIn, let refreshToken?):
            return .tokens(ConsentTokens(refreshToken: refreshToken, accessToken: value, expiresIn: expiresIn))
        case .token:
            return .failure(.noRefreshToken)
        case .rejected(let problem), .failed(let problem):
            if let code = problem.oauthError { return .oauthError(code: code, detail: problem.errorDescription) }
            return .failure(.malformed(problem.reason))
        case .retryable(let problem):
            // A 2xx that is not a token (a captive portal, a proxy's page) will not improve.
            if (200..<300).contains(problem.status) { return .failure(.malformed(problem.reason)) }
            return .transient(problem.oauthError.map { "\(problem.reason) \($0)" } ?? problem.reason)
        }
    }
}
