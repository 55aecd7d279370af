import Accounts
import Logging
import NIOCore
import OAuth2
import Resilience
import SMTPCore
import SMTPNIO

/// An authenticated upstream connection and what the pool needs to know to retire it.
public final class UpstreamConnection: PooledConnection {
    public let client: SMTPClientConnection
    /// Providers end sessions whose token expired (Gmail does), so the pool retires the
    /// connection before then.
    public let tokenExpiresAt: ContinuousClock.Instant

    init(client: SMTPClientConnection, tokenExpiresAt: ContinuousClock.Instant) {
        self.client = client
        self.tokenExpiresAt = tokenExpiresAt
    }

    public var isActive: Bool { client.isActive }
    public func close() { client.close() }
    public func quit() async { await client.quit() }
    public var eventLoop: (any EventLoop)? { client.eventLoop }
}

/// Opens upstream connections: token, connect, TLS, AUTH XOAUTH2, with one refresh-and-retry
/// when the provider refuses the token. Every attempt passes the account's limiter (credentials
/// failing, provider slow-down) and the host's circuit breaker first, and reports back to them.
public struct UpstreamConnector: Sendable {
    public let group: any EventLoopGroup
    public let tokens: TokenCache
    public let timeouts: SMTPClientConnection.Timeouts
    public let heloName: String
    public let logger: Logger
    /// One per upstream host:port.
    public let hostBreakers: CircuitBreakerRegistry
    /// `--dry-run`: every connection goes to an in-process provider that accepts and drops.
    let dryRun: DryRunUpstream?

    /// `dryRun`: open in-process dry-run upstreams instead, their lifetime measured by `now`.
    public init(group: any EventLoopGroup, tokens: TokenCache, timeouts: SMTPClientConnection.Timeouts = .init(), heloName: String,
                hostBreakers: CircuitBreakerRegistry, logger: Logger,
                dryRun: Bool = false, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.group = group
        self.tokens = tokens
        self.timeouts = timeouts
        self.heloName = heloName
        self.hostBreakers = hostBreakers
        self.logger = logger
        self.dryRun = dryRun ? DryRunUpstream(now: now) : nil
    }

    /// `on`: the event loop to connect on (the session's); any of the group's when nil.
    /// `tokenKey`: where the account's token is cached (shared by the mailboxes of one
    /// application); the account ID when nil.
    func open(account: Account, endpoint: UpstreamEndpoint, limiter: AccountLimiter, tokenKey: String? = nil,
              on loop: (any EventLoop)? = nil) async throws(RelayFailure) -> UpstreamConnection {
        if let dryRun {
            do {
                return try await dryRun.open(on: loop ?? group.next(), heloName: heloName, timeouts: timeouts)
            } catch {
                throw .upstreamUnreachable("dry-run upstream: \(error)")
            }
        }
        var logger = logger
        logger[metadataKey: "account_id"] = "\(account.accountID)"
        logger[metadataKey: "upstream"] = "\(endpoint.host):\(endpoint.port)"
        let credentialsPermit = try limiter.checkNewConnection()
        let breaker = hostBreakers.breaker(for: "\(endpoint.host):\(endpoint.port)")
        if case .rejected(let retryAfter) = breaker.permit() {
            throw .circuitOpen(host: breaker.name, retryAfter: retryAfter)
        }
        // A failure here leaves the host's probe permit unused; it expires by itself.
        let token = try await accessToken(forKey: tokenKey ?? account.accountID)
        let client: SMTPClientConnection
        do {
            client = try await SMTPClientConnection.connect(
                .init(host: endpoint.host, port: endpoint.port, tls: endpoint.tls, heloName: heloName, timeouts: timeouts),
                group: loop ?? group)
        } catch SMTPNIOError.unexpectedReply(let reply) {
            // The host answered, so it is up; what it said may be about this account.
            breaker.recordSuccess()
            throw refusal(reply, at: .connect, logger: logger)
        } catch {
            breaker.recordFailure()
            logger.warning("upstream connection failed", metadata: ["error": "\(error)"])
            throw .upstreamUnreachable("\(error)")
        }
        breaker.recordSuccess()
        do {
            var reply = try await client.authenticateXOAUTH2(email: account.email, accessToken: token.value)
            var expiresAt = token.expiresAt
            if reply.isTransientFailure {
                // A temporary refusal says nothing against the credentials or the token.
                client.close()
                throw refusal(reply, at: .auth, logger: logger)
            }
            if reply.code != 235 {
                // The cached token may have been revoked or expired early: refresh once, retry once.
                logger.info("upstream refused the access token, refreshing", metadata: ["smtp_code": "\(reply.code)"])
                let fresh = try await accessToken(forKey: tokenKey ?? account.accountID, replacing: token)
                reply = try await client.authenticateXOAUTH2(email: account.email, accessToken: fresh.value)
                expiresAt = fresh.expiresAt
            }
            guard reply.code == 235 else {
                client.close()
                if reply.isTransientFailure {
                    throw refusal(reply, at: .auth, logger: logger)
                }
                logger.warning("upstream rejected XOAUTH2 with a fresh token", metadata: ["smtp_code": "\(reply.code)", "smtp_reply": "\(reply)"])
                limiter.credentials.recordFailure()
                limiter.publishCredentialsIfOpen(email: account.email)
                throw RelayFailure.upstreamAuthRejected(reply)
            }
            if credentialsPermit == .probe { logger.notice("upstream accepted the account's credentials again") }
            limiter.credentials.recordSuccess()
            limiter.slowDown.recordSuccess()
            logger.debug("upstream connection ready")
            return UpstreamConnection(client: client, tokenExpiresAt: expiresAt)
        } catch let failure as RelayFailure {
            client.close()
            throw failure
        } catch {
            client.close()
            breaker.recordFailure()
            logger.warning("upstream failed during AUTH", metadata: ["error": "\(error)"])
            throw .upstreamUnreachable("\(error)")
        }
    }

    /// A provider reply that ends the attempt. The session applies what it means for the
    /// account, as it does for replies mid-transaction.
    private func refusal(_ reply: SMTPReply, at step: UpstreamStep, logger: Logger) -> RelayFailure {
        logger.warning("upstream refused the connection", metadata: ["smtp_reply": "\(reply)", "step": "\(step.rawValue)"])
        return .refusedByProvider(UpstreamReplyPolicy.verdict(for: reply, at: step))
    }

    /// `replacing`: the token the provider refused; if another connection already replaced
    /// it, that replacement is used without a second refresh.
    private func accessToken(forKey key: String, replacing refused: AccessToken? = nil) async throws(RelayFailure) -> AccessToken {
        do {
            if let refused {
                return try await tokens.accessToken(forKey: key, replacing: refused)
            }
            return try await tokens.accessToken(forKey: key)
        } catch {
            switch error {
            case .credentialsRejected(let detail): throw .credentialsRejected(detail)
            case .unavailable(let detail): throw .tokenUnavailable(detail)
            case .endpointCircuitOpen(let host, let retryAfter): throw .circuitOpen(host: host, retryAfter: retryAfter)
            }
        }
    }
}
