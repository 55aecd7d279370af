import Accounts
import Logging
import NIOCore
import NIOPosix
import OAuth2
import Resilience
import SMTPNIO

/// One account's result from `xoauth2-proxy check`.
public struct AccountCheckResult: Sendable {
    public enum Outcome: String, Sendable { case ok, failed, skipped }

    public var accountID: String
    public var email: String
    public var provider: Provider
    public var token: Outcome
    public var smtp: Outcome
    /// Why it failed; never a secret.
    public var error: String?

    public var passed: Bool { token != .failed && smtp != .failed }
}

/// Refreshes every account's token (and optionally logs in upstream with XOAUTH2 and QUITs),
/// a bounded number at a time, with the same code paths `serve` uses.
public enum AccountChecker {
    public static func run(_ directory: AccountDirectory, settings: ProxyRuntime.Configuration, smtp: Bool, concurrency: Int = 8,
                           group: any EventLoopGroup, logger: Logger,
                           progress: @escaping @Sendable (AccountCheckResult) -> Void = { _ in }) async throws -> [AccountCheckResult] {
        let refreshTokens = try await StateFiles.open(settings.stateDirectory, directory: directory, logger: logger)?.refreshTokens
        // The same upstream half `serve` builds: token endpoint and host breakers included.
        let upstreams = ProxyUpstreams(settings, refreshTokens: refreshTokens, group: group, logger: logger)
        do {
            let results = try await run(directory, settings: settings, smtp: smtp, concurrency: concurrency, upstreams: upstreams,
                                        refreshTokens: refreshTokens, logger: logger, progress: progress)
            await upstreams.shutdown()
            return results
        } catch {
            await upstreams.shutdown()
            throw error
        }
    }

    private static func run(_ directory: AccountDirectory, settings: ProxyRuntime.Configuration, smtp: Bool, concurrency: Int,
                            upstreams: ProxyUpstreams, refreshTokens: RefreshTokenPersistence?, logger: Logger,
                            progress: @escaping @Sendable (AccountCheckResult) -> Void) async throws -> [AccountCheckResult] {
        let (tokens, connector) = (upstreams.tokens, upstreams.connector)
        let tls = UpstreamTLSContexts()
        let prepared = try await NIOThreadPool.singleton.runIfActive {
            var builder = AccountCredentialsBuilder()
            return directory.accounts.map { account -> Prepared in
                let credentials = Result { () throws(ConfigError) in try builder.credentials(for: account) }
                let key = (try? credentials.get())?.tokenCacheKey(accountKey: account.accountID) ?? account.accountID
                if case .success(let configured) = credentials {
                    tokens.setCredentials(configured.resolvingRefreshToken(of: account, with: refreshTokens), forKey: key,
                                          label: account.provider.rawValue)
                }
                return Prepared(account: account, tokenKey: key, credentials: credentials.map { _ in () },
                                endpoint: Result { try tls.endpoint(for: account) })
            }
        }
        let results = await withTaskGroup(of: AccountCheckResult.self) { tasks in
            var results: [AccountCheckResult] = []
            var iterator = prepared.makeIterator()
            func startNext() -> Bool {
                guard let prepared = iterator.next() else { return false }
                tasks.addTask {
                    let result = await check(prepared, smtp: smtp, tokens: tokens, connector: connector,
                                             settings: settings.resilience, logger: logger)
                    progress(result)
                    return result
                }
                return true
            }
            for _ in 0..<max(1, concurrency) where startNext() {}
            for await result in tasks {
                results.append(result)
                _ = startNext()
            }
            return results
        }
        return results.sorted { $0.accountID < $1.accountID }
    }

    private struct Prepared: Sendable {
        var account: Account
        var tokenKey: String
        /// A key file that does not parse fails the account's check, not the whole run.
        var credentials: Result<Void, ConfigError>
        var endpoint: Result<UpstreamEndpoint, any Error>
    }

    private static func check(_ prepared: Prepared, smtp: Bool, tokens: TokenCache,
                              connector: UpstreamConnector, settings: ResilienceSettings, logger: Logger) async -> AccountCheckResult {
        let (account, endpoint) = (prepared.account, prepared.endpoint)
        var result = AccountCheckResult(accountID: account.accountID, email: account.email, provider: account.provider,
                                        token: .failed, smtp: smtp ? .failed : .skipped)
        do {
            try prepared.credentials.get()
            _ = try await tokens.accessToken(forKey: prepared.tokenKey)
            result.token = .ok
        } catch {
            result.error = "\(error)"
            if smtp { result.smtp = .skipped }
            return result
        }
        guard smtp else { return result }
        do {
            let limiter = AccountLimiter(account: account, settings: settings, logger: logger)
            let connection = try await connector.open(account: account, endpoint: endpoint.get(), limiter: limiter, tokenKey: prepared.tokenKey)
            await connection.quit()
            result.smtp = .ok
        } catch let failure as RelayFailure {
            result.error = failure.description
        } catch {
            result.error = "\(error)"
        }
        return result
    }
}
