import Accounts
import Logging
import NIOCore
import OAuth2

public typealias AccountPool = UpstreamPool<UpstreamConnection>

/// An account as the relay uses it: configuration, resolved endpoint, its connection pool and
/// its limiter.
public struct RelayAccount: Sendable {
    public let account: Account
    public let endpoint: UpstreamEndpoint
    public let pool: AccountPool
    let limiter: AccountLimiter

    /// What a provider reply means for the account beyond one transaction.
    func apply(_ pushback: ProviderPushback, logger: Logger) {
        switch pushback {
        case .quotaExhausted:
            if limiter.pauseForQuota() {
                logger.error("provider says the account's sending quota is spent; pausing it", metadata: [
                    "pause_s": "\(limiter.quotaPause.components.seconds)",
                ])
            }
        case .connectionLimit:
            pool.lowerCap(for: limiter.connectionLimitPause)
            logger.warning("provider refused a connection as one too many; running fewer", metadata: [
                "max_connections_now": "\(pool.currentCap)",
            ])
        case .slowDown:
            limiter.slowDown.recordSlowDown()
            logger.warning("provider asked to slow down; new connections back off", metadata: [
                "consecutive": "\(limiter.slowDown.consecutiveSlowDowns)",
            ])
        }
    }
}

/// The accounts the relay serves, looked up by login email in O(1).
public final class RelayAccounts: Sendable {
    private let byEmail: [String: RelayAccount]

    public var all: [RelayAccount] { Array(byEmail.values) }

    /// Resolves endpoints (reads CA files) and registers credentials with the token cache.
    /// A CA file that is not usable PEM is a `ConfigError` naming the account.
    init(directory: AccountDirectory, tls: UpstreamTLSContexts, connector: UpstreamConnector,
                resilience: ResilienceSettings = .init(),
                refreshTokens: RefreshTokenPersistence? = nil,
                poolTimings: (AccountPool.Configuration) -> AccountPool.Configuration = { $0 }) throws {
        var byEmail: [String: RelayAccount] = [:]
        for (index, account) in directory.accounts.enumerated() {
            let endpoint: UpstreamEndpoint
            do {
                endpoint = try tls.endpoint(for: account)
            } catch {
                throw ConfigError(source: "accounts", accountID: account.accountID, index: index, field: "tls_ca_file",
                                  message: "cannot build a TLS context from it: \(error)")
            }
            connector.tokens.setCredentials(
                OAuth2Credentials(tokenURL: account.tokenURL, clientID: account.clientID, clientSecret: account.clientSecret,
                                  refreshToken: refreshTokens?.resolve(account) ?? account.refreshToken, scope: account.scope),
                forKey: account.accountID)
            let configuration = poolTimings(AccountPool.Configuration(
                maxConnections: account.maxConnections, maxMessagesPerConnection: account.maxMessagesPerConnection))
            let limiter = AccountLimiter(account: account, settings: resilience, logger: connector.logger)
            let pool = AccountPool(configuration: configuration, timerLoop: connector.group.next(), now: resilience.clock.now) { () async throws(RelayFailure) in
                try await connector.open(account: account, endpoint: endpoint, limiter: limiter)
            }
            byEmail[account.email.lowercased()] = RelayAccount(account: account, endpoint: endpoint, pool: pool, limiter: limiter)
        }
        self.byEmail = byEmail
    }

    public func lookup(email: String) -> RelayAccount? {
        byEmail[email.lowercased()]
    }

    public func sweep() {
        for account in byEmail.values { account.pool.sweep() }
    }

    public func close() async {
        await withTaskGroup(of: Void.self) { group in
            for account in byEmail.values { group.addTask { await account.pool.close() } }
        }
    }
}
