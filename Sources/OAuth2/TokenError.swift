/// Why no access token could be had. The associated strings are safe to log and to show
/// to an SMTP client: they never hold tokens, secrets or raw response bodies.
public enum TokenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The provider refused the client or the grant (`invalid_grant`, `invalid_client`,
    /// `unauthorized_client`). Retrying cannot help until the account's configuration changes.
    /// The string is the OAuth error code, then the provider's (scrubbed) error_description.
    case credentialsRejected(String)
    /// Anything that may heal by itself: 5xx, 429, timeouts, connection errors, malformed replies.
    case unavailable(String)
    /// The endpoint failed so often that requests to it are held back for a while; no request was sent.
    case endpointCircuitOpen(host: String, retryAfter: Duration)

    /// Whether it may heal without a configuration change.
    public var isTransient: Bool {
        if case .credentialsRejected = self { false } else { true }
    }

    public var description: String {
        switch self {
        case .credentialsRejected(let detail): "token endpoint rejected the credentials: \(detail)"
        case .unavailable(let detail): "access token unavailable: \(detail)"
        case .endpointCircuitOpen(let host, let retryAfter):
            "token endpoint \(host) is failing; requests held back for \(retryAfter.components.seconds + 1) s"
        }
    }
}
