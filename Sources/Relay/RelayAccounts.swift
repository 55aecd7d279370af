import Accounts
import Logging
import NIOPosix
import NIOConcurrencyHelpers
import NIOCore
import OAuth2
import Ops
import Resilience

public typealias AccountPool = UpstreamPool<UpstreamConnection>

/// An account as the relay uses it: configuration, resolved endpoint, its connection pool and
/// its limiter.
public struct RelayAccount: Sendable {
    public let account: Account
    public let endpoint: UpstreamEndpoint
    public let pool: AccountPool
    let limiter: AccountLimiter
    /// As configured (a refresh token as mounted), for telling whether a reload changed them.
    let credentials: OAuth2Credentials
    /// Where its token lives in the cache: shared by every mailbox of one application.
    let tokenKey: String

    /// What a provider reply means for the account beyond one transaction.
    func apply(_ pushback: ProviderPushback, logger: Logger, metrics: any RelayMetrics) {
        switch pushback {
        case .quotaExhausted:
            metrics.providerPushback(.quota)
            if limiter.pauseForQuota() {
                logger.error("provider says the account's sending quota is spent; pausing it", metadata: [
                    "pause_s": "\(limiter.quotaPause.components.seconds)",
                ])
            }
        case .connectionLimit:
            metrics.providerPushback(.connectionLimit)
            pool.lowerCap(for: limiter.connectionLimitPause)
            logger.warning("provider refused a connection as one too many; running fewer", metadata: [
                "max_connections_now": "\(pool.currentCap)",
            ])
        case .slowDown:
            metrics.providerPushback(.slowDown)
            limiter.slowDown.recordSlowDown()
            logger.warning("provider asked to slow down; new connections back off", metadata: [
                "consecutive": "\(limiter.slowDown.consecutiveSlowDowns)",
            ])
        }
        publishToFleet(pushback)
    }
}

/// What a reload changed, for the log line.
public struct AccountChanges: Sendable, Hashable, CustomStringConvertible {
    public var added: [String] = []
    public var changed: [String] = []
    public var removed: [String] = []
    public var unchanged = 0

    public init(added: [String] = [], changed: [String] = [], removed: [String] = [], unchanged: Int = 0) {
        self.added = added
        self.changed = changed
        self.removed = removed
        self.unchanged = unchanged
    }

    public var isEmpty: Bool { added.isEmpty && changed.isEmpty && removed.isEmpty }
    public var description: String {
        "added \(added.count), changed \(changed.count), removed \(removed.count), unchanged \(unchanged)"
    }
}

/// The accounts the relay serves, looked up by login email in O(1), replaced whole on reload.
///
/// A reload keeps what did not change (cached token, pool, counts) and replaces the rest:
/// changed credentials or upstream settings, or a CA file whose contents changed, get a new
/// pool (the old one closes its idle connections now and its busy ones as their transactions
/// end), limits changes keep the counts, removed accounts take no new transactions. Sessions resolve their account at every
/// MAIL, so a transaction runs with the account as it was when it started.
public final class RelayAccounts: Sendable {
    private struct Snapshot: Sendable {
        var byEmail: [String: RelayAccount] = [:]
        var byID: [String: RelayAccount] = [:]
    }

    private let snapshot = NIOLockedValueBox(Snapshot())
    private let tls: UpstreamTLSContexts
    private let connector: UpstreamConnector
    private let resilience: ResilienceSettings
    private let refreshTokens: RefreshTokenPersistence?
    private let quotaCounters: QuotaCounterPersistence?
    private let poolTimings: @Sendable (AccountPool.Configuration) -> AccountPool.Configuration

    public var all: [RelayAccount] { snapshot.withLockedValue { Array($0.byID.values) } }

    /// Resolves endpoints (reads CA files) and registers credentials with the token cache.
    /// A CA file that is not usable PEM is a `ConfigError` naming the account and the file. Blocking.
    init(directory: AccountDirectory, tls: UpstreamTLSContexts, connector: UpstreamConnector,
         resilience: ResilienceSettings = .init(),
         refreshTokens: RefreshTokenPersistence? = nil,
         quotaCounters: QuotaCounterPersistence? = nil,
         poolTimings: @escaping @Sendable (AccountPool.Configuration) -> AccountPool.Configuration = { $0 }) throws {
        self.tls = tls
        self.connector = connector
        self.resilience = resilience
        self.refreshTokens = refreshTokens
        self.quotaCounters = quotaCounters
        self.poolTimings = poolTimings
        _ = try replace(with: directory)
    }

    public func lookup(accountID: String) -> RelayAccount? {
        snapshot.withLockedValue { $0.byID[accountID] }
    }

    public func lookup(email: String) -> RelayAccount? {
        let key = email.lowercased()
        return snapshot.withLockedValue { $0.byEmail[key] }
    }

    /// Applies a new, already validated set of accounts. Everything that can fail (CA files)
    /// is checked before anything changes. Blocking (reads CA and state files): call it off
    /// the event loop. Returns the old pools to retire.
    func replace(with directory: AccountDirectory) throws -> (AccountChanges, retired: [AccountPool]) {
        let current = snapshot.withLockedValue { $0 }
        // Changed accounts get their endpoint resolved, and so does every account with a CA
        // file, changed or not: a CA renewed or distrusted in place changes no field, only the
        // file's contents. Each file is read once per pass; its TLS context is rebuilt only
        // when the contents differ from what it was built from.
        var pass = UpstreamTLSContexts.Pass()
        var endpoints: [String: UpstreamEndpoint] = [:]
        for (index, account) in directory.accounts.enumerated()
        where current.byID[account.accountID]?.account != account || Self.readsCAFile(account) {
            do {
                endpoints[account.accountID] = try tls.endpoint(for: account, in: &pass)
            } catch let error as UpstreamCAFileError {
                throw ConfigError(source: "accounts", accountID: account.accountID, index: index, field: "tls_ca_file",
                                  message: "cannot use \(error)")
            } catch {
                throw ConfigError(source: "accounts", accountID: account.accountID, index: index, field: "smtp_tls",
                                  message: "cannot build a TLS context: \(error)")
            }
        }
        // Key material is parsed before anything changes too: a bad key rejects the reload.
        var builder = AccountCredentialsBuilder()
        var credentials: [String: OAuth2Credentials] = [:]
        for (index, account) in directory.accounts.enumerated() {
            if let previous = current.byID[account.accountID], previous.account == account {
                credentials[account.accountID] = previous.credentials
            } else {
                credentials[account.accountID] = try builder.credentials(for: account, index: index)
            }
        }
        var next = Snapshot()
        var changes = AccountChanges()
        var retired: [AccountPool] = []
        for account in directory.accounts {
            let previous = current.byID[account.accountID]
            let relayAccount: RelayAccount
            let endpoint = endpoints[account.accountID]
            if let previous, previous.account == account, endpoint.map({ $0.usesSameTLS(as: previous.endpoint) }) ?? true {
                relayAccount = previous
                changes.unchanged += 1
            } else if let endpoint {
                relayAccount = make(account, endpoint: endpoint, credentials: credentials[account.accountID]!, previous: previous)
                if let previous {
                    changes.changed.append(account.accountID)
                    if relayAccount.pool !== previous.pool { retired.append(previous.pool) }
                } else {
                    changes.added.append(account.accountID)
                }
            } else {
                continue
            }
            next.byID[account.accountID] = relayAccount
            next.byEmail[account.email.lowercased()] = relayAccount
        }
        for (accountID, previous) in current.byID where next.byID[accountID] == nil {
            changes.removed.append(accountID)
            retired.append(previous.pool)
            refreshTokens?.forget(accountID: accountID)
        }
        let keysInUse = Set(next.byID.values.map(\.tokenKey))
        for key in Set(current.byID.values.map(\.tokenKey)).subtracting(keysInUse) {
            connector.tokens.removeAccount(forKey: key)
        }
        snapshot.withLockedValue { $0 = next }
        tls.keepOnly(pass)
        return (changes, retired)
    }

    /// Whether the account's TLS trusts a file of its own, which is read again at every pass.
    private static func readsCAFile(_ account: Account) -> Bool {
        account.smtpTLS != .none && account.tlsCAFile != nil
    }

    private func make(_ account: Account, endpoint: UpstreamEndpoint, credentials: OAuth2Credentials, previous: RelayAccount?) -> RelayAccount {
        let credentialsChanged = previous.map { $0.credentials != credentials } ?? true
        let tokenKey = credentials.tokenCacheKey(accountKey: account.accountID)
        if credentialsChanged {
            // Equal credentials under a shared key (another mailbox of the same application)
            // keep the token that is there. A shared key's accounts are all of one provider,
            // which labels the key's refreshes.
            if connector.tokens.sharesRefreshes {
                // The mounted token is what the fleet's row is compared with; the state
                // directory's rotated one is where this replica resumes.
                connector.tokens.setCredentials(credentials, forKey: tokenKey, label: account.provider.rawValue,
                                                resumingFrom: credentials.usesRefreshToken ? refreshTokens?.resolve(account) : nil)
            } else {
                connector.tokens.setCredentials(credentials.resolvingRefreshToken(of: account, with: refreshTokens), forKey: tokenKey,
                                                label: account.provider.rawValue)
            }
        }
        let limiter = AccountLimiter(account: account, settings: resilience, logger: connector.logger,
                                     previous: previous.map { ($0.limiter, credentialsChanged) })
        if previous == nil { quotaCounters?.restore(account, into: limiter.quota) }
        // A new TLS context (the CA file's contents changed) retires the pool even though no
        // setting did: connections verified only by a distrusted CA must carry no new mail, and
        // the proxy cannot tell a distrusted CA from a renewed one (for which one reconnect per
        // connection is a small price). Transactions in flight finish on their connection.
        if let previous, !credentialsChanged, Self.connectionSettings(of: previous.account) == Self.connectionSettings(of: account),
           previous.endpoint.usesSameTLS(as: endpoint) {
            return RelayAccount(account: account, endpoint: previous.endpoint, pool: previous.pool, limiter: limiter,
                                credentials: credentials, tokenKey: tokenKey)
        }
        let configuration = poolTimings(AccountPool.Configuration(
            maxConnections: account.maxConnections, maxMessagesPerConnection: account.maxMessagesPerConnection))
        let connector = connector
        let pool = AccountPool(configuration: configuration, timerLoop: connector.group.next(), now: resilience.clock.now) { loop async throws(RelayFailure) in
            try await connector.open(account: account, endpoint: endpoint, limiter: limiter, tokenKey: tokenKey, on: loop)
        }
        return RelayAccount(account: account, endpoint: endpoint, pool: pool, limiter: limiter, credentials: credentials, tokenKey: tokenKey)
    }

    private static func connectionSettings(of account: Account) -> [String] {
        [account.email.lowercased(), account.smtpHost, "\(account.smtpPort)", account.smtpTLS.rawValue, account.tlsCAFile ?? "",
         "\(account.maxConnections)", "\(account.maxMessagesPerConnection)"]
    }

    var tokens: TokenCache { connector.tokens }

    func hostBreaker(for account: RelayAccount) -> CircuitBreaker {
        connector.hostBreakers.breaker(for: "\(account.endpoint.host):\(account.endpoint.port)")
    }

    /// Saves the day counts that moved, on the blocking-I/O pool.
    func persistCounters() async {
        guard let quotaCounters else { return }
        let accounts = all
        try? await NIOThreadPool.singleton.runIfActive { quotaCounters.save(accounts) }
    }

    public func sweep() {
        for account in all { account.pool.sweep() }
    }

    public func close() async {
        let accounts = all
        await withTaskGroup(of: Void.self) { group in
            for account in accounts { group.addTask { await account.pool.close() } }
        }
    }
}
