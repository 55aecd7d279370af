import Accounts
import NIOCore
import OAuth2

public typealias AccountPool = UpstreamPool<UpstreamConnection>

/// An account as the relay uses it: configuration, resolved endpoint, its connection pool.
public struct RelayAccount: Sendable {
    public let account: Account
    public let endpoint: UpstreamEndpoint
    public let pool: AccountPool
}

/// The accounts the relay serves, looked up by login email in O(1).
public final class RelayAccounts: Sendable {
    private let byEmail: [String: RelayAccount]

    public var all: [RelayAccount] { Array(byEmail.values) }

    /// Resolves endpoints (reads CA files) and registers credentials with the token cache.
    /// A CA file that is not usable PEM is a `ConfigError` naming the account.
    public init(directory: AccountDirectory, tls: UpstreamTLSContexts, connector: UpstreamConnector,
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
                                  refreshToken: account.refreshToken, scope: account.scope),
                forKey: account.accountID)
            let configuration = poolTimings(AccountPool.Configuration(
                maxConnections: account.maxConnections, maxMessagesPerConnection: account.maxMessagesPerConnection))
            let pool = AccountPool(configuration: configuration, timerLoop: connector.group.next()) { () async throws(RelayFailure) in
                try await connector.open(account: account, endpoint: endpoint)
            }
            byEmail[account.email.lowercased()] = RelayAccount(account: account, endpoint: endpoint, pool: pool)
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
