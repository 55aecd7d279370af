import Resilience
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
    /// Recent connect, TLS or timeout failures at this host (or token endpoint) opened its breaker.
    case circuitOpen(host: String, retryAfter: Duration)
    /// The provider asked the account to slow down; new connections wait.
    case throttled(retryAfter: Duration)
    /// One of the account's configured rate limits is reached.
    case accountLimit(QuotaRefusal)
    /// `max_concurrent_messages` transactions were in flight for the whole wait.
    case concurrencyLimit(limit: Int, waited: Duration)
    /// The provider said the account's quota is spent; it rests before trying again.
    case quotaPaused(retryAfter: Duration)
    /// The provider keeps refusing the account's credentials even with fresh tokens.
    case credentialsFailing(retryAfter: Duration)
    /// The provider refused while connecting (slow down, too many connections): its reply, read.
    case refusedByProvider(UpstreamVerdict)

    public var clientReply: SMTPReply {
        switch self {
        case .tokenUnavailable, .credentialsRejected, .upstreamAuthRejected:
            SMTPReply(454, "4.7.0", "Temporary authentication failure with the mail provider, try again later")
        case .upstreamUnreachable:
            SMTPReply(451, "4.4.1", "Mail provider unreachable, try again later")
        case .poolExhausted:
            SMTPReply(451, "4.4.5", "All connections for this account are busy, try again later")
        case .upstreamLost:
            SMTPReply(451, "4.4.2", "Connection to the mail provider was lost; start the transaction again")
        case .shuttingDown:
            SMTPReply(421, "4.3.2", "Service shutting down, try again later")
        case .circuitOpen(_, let retryAfter):
            SMTPReply(451, "4.4.1", "Mail provider unreachable after repeated failures, try again in \(ApproximateDuration.text(retryAfter))")
        case .throttled(let retryAfter):
            SMTPReply(451, "4.7.0", "Mail provider asked this account to slow down, try again in \(ApproximateDuration.text(retryAfter))")
        case .accountLimit(let refusal):
            SMTPReply(451, "4.7.1", refusal.text)
        case .concurrencyLimit(let limit, let waited):
            SMTPReply(451, "4.7.1", "Account limit max_concurrent_messages=\(limit) reached for \(ApproximateDuration.text(waited)); try again later")
        case .quotaPaused(let retryAfter):
            SMTPReply(451, "4.4.5", "Sending quota for this account is used up at the provider, try again in \(ApproximateDuration.text(retryAfter))")
        case .credentialsFailing(let retryAfter):
            SMTPReply(454, "4.7.0", "Mail provider refuses this account's credentials; next attempt in \(ApproximateDuration.text(retryAfter))")
        case .refusedByProvider(let verdict):
            verdict.clientReply
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
        case .circuitOpen(let host, let retryAfter): "circuit open for \(host) (\(ApproximateDuration.text(retryAfter)) left)"
        case .throttled(let retryAfter): "throttled by the provider (\(ApproximateDuration.text(retryAfter)) left)"
        case .accountLimit(let refusal): refusal.text
        case .concurrencyLimit(let limit, _): "max_concurrent_messages=\(limit) reached"
        case .quotaPaused(let retryAfter): "paused: provider quota spent (\(ApproximateDuration.text(retryAfter)) left)"
        case .credentialsFailing(let retryAfter): "credentials failing (\(ApproximateDuration.text(retryAfter)) to next probe)"
        case .refusedByProvider(let verdict): "provider refused: \(verdict.clientReply)"
        }
    }
}
