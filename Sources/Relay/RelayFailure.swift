import SMTPCore

/// Why a transaction could not be carried upstream, and what the client hears. Local
/// failures are temporary (4xx) so apps keep the message and retry.
public enum RelayFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The token endpoint failed (5xx, timeout) after retries.
    case tokenUnavailable(String)
    /// The token endpoint rejected the account's credentials (invalid_grant / invalid_client).
    case credentialsRejected(String)
    /// Could not connect, TLS failed, or the upstream timed out before AUTH.
    case upstreamUnreachable(String)
    /// The upstream refused AUTH XOAUTH2 even with a freshly refreshed token.
    case upstreamAuthRejected(SMTPReply)
    /// Every connection of the account stayed busy for the whole wait.
    case poolExhausted
    /// The upstream went away mid-transaction.
    case upstreamLost
    case shuttingDown

    public var clientReply: SMTPReply {
        switch self {
        case .tokenUnavailable, .credentialsRejected, .upstreamAuthRejected:
            SMTPReply(454, "4.7.0", "Temporary authentication failure with the mail provider, try again later")
        case .upstreamUnreachable:
            SMTPReply(451, "4.4.1", "Mail provider unreachable, try again later")
        case .poolExhausted:
            SMTPReply(451, "4.4.5", "All connections for this account are busy, try again later")
        case .upstreamLost:
            SMTPServerStateMachine.upstreamLostReply
        case .shuttingDown:
            SMTPReply(421, "4.3.2", "Service shutting down, try again later")
        }
    }

    public var description: String {
        switch self {
        case .tokenUnavailable(let detail): "token unavailable: \(detail)"
        case .credentialsRejected(let detail): "credentials rejected: \(detail)"
        case .upstreamUnreachable(let detail): "upstream unreachable: \(detail)"
        case .upstreamAuthRejected(let reply): "upstream rejected XOAUTH2: \(reply)"
        case .poolExhausted: "no upstream connection free"
        case .upstreamLost: "upstream connection lost"
        case .shuttingDown: "shutting down"
        }
    }
}
