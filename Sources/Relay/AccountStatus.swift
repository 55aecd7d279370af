import Accounts
import Resilience

/// One account as a status page shows it; never a secret.
public struct AccountStatus: Sendable {
    public enum State: String, Sendable, CaseIterable {
        case ok
        case credentialsFailed = "credentials-failed"
        case paused
        case breakerOpen = "breaker-open"
    }

    public var accountID: String
    public var provider: Provider
    public var grant: GrantType
    /// The shared credential the account's tokens come from, if any.
    public var credential: String?
    public var state: State
    /// Seconds until the cached access token expires; nil when none is cached.
    public var tokenExpiresIn: Int?
    public var idleConnections: Int
    public var busyConnections: Int
    /// The pool's cap now: its configured size, less what connection-limit pushbacks took off.
    public var maxConnections: Int
    public var usage: QuotaUsage
}

extension RelayAccounts {
    /// A snapshot for /accounts, /readyz and the gauges: one lock per account, no I/O.
    public func statuses() -> [AccountStatus] {
        let now = ContinuousClock.now
        return all.sorted { $0.account.accountID < $1.account.accountID }.map { relayAccount in
            let account = relayAccount.account
            let token = tokens.status(forKey: relayAccount.tokenKey)
            let counts = relayAccount.pool.counts
            let state: AccountStatus.State
            if token.credentialsRejected || relayAccount.limiter.credentials.state.isOpen {
                state = .credentialsFailed
            } else if relayAccount.limiter.pauseRemaining() != nil {
                state = .paused
            } else if hostBreaker(for: relayAccount).state.isOpen {
                state = .breakerOpen
            } else {
                state = .ok
            }
            return AccountStatus(
                accountID: account.accountID, provider: account.provider, grant: account.grant.type,
                credential: account.credentialName, state: state,
                tokenExpiresIn: token.expiresAt.map { Int(($0 - now).components.seconds) },
                idleConnections: counts.idle, busyConnections: counts.busy,
                maxConnections: relayAccount.pool.currentCap, usage: relayAccount.limiter.quota.usage())
        }
    }
}

extension CircuitBreaker.State {
    /// Open or probing: either way, traffic is held back.
    var isOpen: Bool {
        if case .closed = self { false } else { true }
    }
}
