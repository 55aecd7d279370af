/// What one account needs to obtain access tokens with the refresh-token grant.
public struct OAuth2Credentials: Sendable, Hashable {
    public var tokenURL: String
    public var clientID: String
    /// Nil for public clients; then no `client_secret` field is sent at all.
    public var clientSecret: String?
    public var refreshToken: String
    /// Sent only when non-nil: Google rejects unexpected scope changes, Microsoft wants it.
    public var scope: String?

    public init(tokenURL: String, clientID: String, clientSecret: String?, refreshToken: String, scope: String?) {
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
        self.scope = scope
    }

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
        "OAuth2Credentials(tokenURL: \(tokenURL), clientID: \(clientID), clientSecret: \(clientSecret == nil ? "nil" : "<redacted>"), refreshToken: <redacted>, scope: \(scope ?? "nil"))"
    }

    public var debugDescription: String { description }
}
