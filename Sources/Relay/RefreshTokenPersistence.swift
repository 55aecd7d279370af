import Accounts
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import OAuth2
import StateStore

/// Keeps rotated refresh tokens under `--state-dir`, because the mounted Secret is read-only
/// and Microsoft invalidates the old refresh token on every refresh. The mounted token wins
/// as soon as it changes: that is how operators rotate by hand.
final class RefreshTokenPersistence: Sendable {
    private struct Mounted: Sendable {
        var email: String
        var refreshToken: String
    }

    private let store: RefreshTokenStore
    private let mounted = NIOLockedValueBox<[String: Mounted]>([:])
    private let logger: Logger

    init(directory: StateDirectory, logger: Logger, onCorrupt: @escaping @Sendable (_ fileName: String, _ reason: String) -> Void) {
        self.store = RefreshTokenStore(directory: directory, onCorrupt: onCorrupt)
        self.logger = logger
    }

    /// The refresh token to start from: the persisted descendant of the mounted one, or the
    /// mounted one. Blocking (reads a file); call it off the event loop.
    func resolve(_ account: Account) -> String? {
        guard let mountedToken = account.refreshToken else { return nil }
        mounted.withLockedValue { $0[account.accountID] = Mounted(email: account.email, refreshToken: mountedToken) }
        return store.resolve(email: account.email, mounted: mountedToken)
    }

    func forget(accountID: String) {
        _ = mounted.withLockedValue { $0.removeValue(forKey: accountID) }
    }

    /// Saves on the blocking-IO pool; a failure is logged and the token stays in memory.
    func rotated(accountID: String, refreshToken: String) {
        guard let origin = mounted.withLockedValue({ $0[accountID] }) else { return }
        let store = store
        let logger = logger
        NIOThreadPool.singleton.submit { state in
            guard case .active = state else { return }
            do {
                try store.save(email: origin.email, refreshToken: refreshToken, mounted: origin.refreshToken)
                logger.debug("rotated refresh token saved", metadata: ["account_id": "\(accountID)"])
            } catch {
                logger.error("cannot save the rotated refresh token; it is kept in memory only", metadata: [
                    "account_id": "\(accountID)", "error": "\(error)",
                ])
            }
        }
    }
}

extension OAuth2Credentials {
    /// What the token cache starts from: for the refresh-token grant, the persisted descendant
    /// of the mounted token when there is one (blocking: reads a state file).
    func resolvingRefreshToken(of account: Account, with refreshTokens: RefreshTokenPersistence?) -> OAuth2Credentials {
        guard usesRefreshToken, let refreshTokens, let resolved = refreshTokens.resolve(account) else { return self }
        var credentials = self
        credentials.grant = .refreshToken(resolved)
        return credentials
    }
}
