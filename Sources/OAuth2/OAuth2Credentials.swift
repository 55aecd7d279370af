import Crypto

/// What one account, or one credential shared by many accounts, needs to obtain access tokens.
public struct OAuth2Credentials: Sendable, Hashable {
    public var tokenURL: String
    /// The OAuth client ID. For the Google grants (which send none) the service account's email,
    /// so that logs and cache keys can name it.
    public var clientID: String
    /// The refresh-token grant's client secret; nil for public clients (then no `client_secret`
    /// field is sent at all). The other grants carry their authentication in `grant`.
    public var clientSecret: String?
    public var grant: OAuth2Grant
    /// Sent only when non-nil: Google rejects unexpected scope changes, Microsoft wants it. The
    /// app-only grants use their provider's default when nil (see `OAuth2Defaults`).
    public var scope: String?

    public init(tokenURL: String, clientID: String, clientSecret: String? = nil, grant: OAuth2Grant, scope: String?) {
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.grant = grant
        self.scope = scope
    }

    /// The refresh-token grant.
    public init(tokenURL: String, clientID: String, clientSecret: String?, refreshToken: String, scope: String?) {
        self.init(tokenURL: tokenURL, clientID: clientID, clientSecret: clientSecret, grant: .refreshToken(refreshToken), scope: scope)
    }

    /// The refresh-token grant's refresh token; "" for the other grants, where setting it does nothing.
    public var refreshToken: String {
        get {
            if case .refreshToken(let token) = grant { return token }
            return ""
        }
        set {
            if case .refreshToken = grant { grant = .refreshToken(newValue) }
        }
    }

    /// Whether the grant is `refresh_token` (the only one whose refresh token rotates).
    public var usesRefreshToken: Bool {
        if case .refreshToken = grant { return true }
        return false
    }

    /// The `TokenCache` key under which this account's token lives.
    ///
    /// `client_credentials` tokens belong to the application, not the mailbox: every account with
    /// the same token URL, client ID, scope and client authentication gets the same key, so one
    /// token and one refresh serve all of them. The key contains no secret (it appears in logs as
    /// the cache's account key): a client secret is represented by a short salted digest, a
    /// certificate by its thumbprint, a federated token file by its path. The other grants issue
    /// tokens for one mailbox and use `accountKey`.
    public func tokenCacheKey(accountKey: String) -> String {
        guard case .clientCredentials(let authentication) = grant else { return accountKey }
        let identity: String
        switch authentication {
        case .secret(let secret):
            let digest = SHA256.hash(data: Self.cacheKeySalt + Array(secret.utf8))
            identity = "secret:" + digest.prefix(6).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        case .certificate(let certificate):
            identity = "x5t#S256:" + certificate.thumbprintSHA256
        case .federatedTokenFile(let path):
            identity = "federated:" + path
        }
        return "client_credentials \(clientID) \(tokenURL) scope=\(scope ?? OAuth2Defaults.microsoftClientCredentialsScope) \(identity)"
    }

    /// Random per process: the key shows up in log lines, and a digest salted with a constant
    /// would let anyone holding the logs test guesses of a weak secret offline.
    private static let cacheKeySalt: [UInt8] = (0..<16).map { _ in UInt8.random(in: .min ... .max) }

    /// The refresh-token grant's form fields, in a stable order so request bodies are reproducible in tests.
    var refreshGrantFields: [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = [("client_id", clientID)]
        if let clientSecret { fields.append(("client_secret", clientSecret)) }
        fields.append(("refresh_token", refreshToken))
        fields.append(("grant_type", "refresh_token"))
        if let scope { fields.append(("scope", scope)) }
        return fields
    }
}

extension OAuth2Credentials: CustomStringConvertible, CustomDebugStringConvertible {
    /// Redacted so that interpolating credentials into a log line or error can never leak them.
    public var description: String {
        switch grant {
        case .refreshToken:
            "OAuth2Credentials(tokenURL: \(tokenURL), clientID: \(clientID), clientSecret: \(clientSecret == nil ? "nil" : "<redacted>"), refreshToken: <redacted>, scope: \(scope ?? "nil"))"
        default:
            "OAuth2Credentials(tokenURL: \(tokenURL), clientID: \(clientID), grant: \(grant), scope: \(scope ?? "nil"))"
        }
    }

    public var debugDescription: String { description }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
