import Accounts
import Logging
import NIOPosix
import StateStore

/// What lives under `--state-dir`.
struct StateFiles: Sendable {
    var refreshTokens: RefreshTokenPersistence
    var quotaCounters: QuotaCounterPersistence

    /// Without a state directory, an account whose provider rotates refresh tokens loses the
    /// rotated one at every restart and depends on the old one still being accepted.
    static func open(_ path: String?, directory: AccountDirectory, logger: Logger) async throws -> StateFiles? {
        guard let path else {
            for account in directory.accounts where account.provider == .outlook && account.grant.type == .refreshToken {
                logger.warning("no --state-dir: refresh tokens Microsoft rotates are kept in memory only and lost on restart",
                               metadata: ["account_id": "\(account.accountID)"])
            }
            return nil
        }
        do {
            let stateDirectory = try await NIOThreadPool.singleton.runIfActive { try StateDirectory(path: path) }
            let onCorrupt: @Sendable (String, String) -> Void = { file, reason in
                logger.warning("ignoring unreadable state file", metadata: ["file": "\(path)/\(file)", "reason": "\(reason)"])
            }
            return StateFiles(refreshTokens: RefreshTokenPersistence(directory: stateDirectory, logger: logger, onCorrupt: onCorrupt),
                              quotaCounters: QuotaCounterPersistence(directory: stateDirectory, logger: logger, onCorrupt: onCorrupt))
        } catch let error as StateError {
            throw ConfigError(source: "--state-dir", message: error.description)
        }
    }
}
