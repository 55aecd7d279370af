import Accounts
import AsyncHTTPClient
import Logging
import NIOCore
import OAuth2
import NIOConcurrencyHelpers
import NIOPosix
import Ops
import Resilience
import StateStore
import SMTPNIO

/// What lives under `--state-dir`.
struct StateFiles: Sendable {
    var refreshTokens: RefreshTokenPersistence
    var quotaCounters: QuotaCounterPersistence
}

/// Everything `serve` wires together, in one place so tests run exactly what the binary runs:
/// the HTTP client for token endpoints, the token cache, the accounts with their pools, and
/// the bound SMTP listener.
public final class ProxyRuntime: Sendable {
    public struct Configuration: Sendable {
        public var server = RelayServer.Configuration()
        /// Name the proxy gives in EHLO to providers.
        public var heloName = "localhost"
        public var upstreamTimeouts = SMTPClientConnection.Timeouts()
        public var tokenExpiryMargin: Duration = .seconds(600)
        /// One HTTP request to a token endpoint, connect included.
        public var tokenRequestTimeout: Duration = .seconds(30)
        public var poolAcquireTimeout: Duration = .seconds(30)
        public var upstreamIdleTimeout: Duration = .seconds(300)
        /// Connections are retired this long before the token they authenticated with expires.
        public var upstreamTokenExpirySafety: Duration = .seconds(60)
        public var resilience = ResilienceSettings()
        /// Where rotated refresh tokens are kept (`--state-dir`); nil keeps them in memory only.
        public var stateDirectory: String?
        /// `--dry-run`: upstream connections go to an in-process provider that accepts every
        /// message and drops it; no token is fetched, no provider contacted.
        public var dryRun = false
        public init() {}
    }

    public let server: RelayServer
    public let tokens: TokenCache
    private let httpClient: HTTPClient

    private init(server: RelayServer, tokens: TokenCache, httpClient: HTTPClient) {
        self.server = server
        self.tokens = tokens
        self.httpClient = httpClient
    }

    /// Reads CA files and binds the listener; throws `ConfigError`-like errors for unusable
    /// TLS files and socket errors for a taken port.
    public static func start(_ configuration: Configuration, directory: AccountDirectory,
                             group: any EventLoopGroup, logger: Logger) async throws -> ProxyRuntime {
        let httpClient = makeTokenHTTPClient(configuration, group: group)
        do {
            var cacheConfiguration = TokenCache.Configuration()
            cacheConfiguration.expiryMargin = configuration.tokenExpiryMargin
            let resilience = configuration.resilience
            let tokenBreakers = CircuitBreakerRegistry(configuration: resilience.tokenBreaker, clock: resilience.clock,
                                                       onTransition: Self.logTransition(kind: "token endpoint", logger: logger))
            let hostBreakers = CircuitBreakerRegistry(configuration: resilience.hostBreaker, clock: resilience.clock,
                                                      onTransition: Self.logTransition(kind: "upstream host", logger: logger))
            // Provider names label the refresh counter (three values, so the label stays bounded),
            // looked up in the accounts as they are now, reloads included.
            let current = NIOLockedValueBox<RelayAccounts?>(nil)
            let stateFiles = try await Self.openStateDirectory(configuration.stateDirectory, directory: directory, logger: logger)
            let refreshTokens = stateFiles?.refreshTokens
            // One clock for token expiry, the pools' token safety margin and the breakers: the
            // pools compare a connection's token expiry with their own now.
            let tokens = TokenCache(
                grant: RefreshTokenGrant(transport: AsyncHTTPClientTransport(client: httpClient),
                                         configuration: .init(requestTimeout: configuration.tokenRequestTimeout),
                                         now: resilience.clock.now, breakers: tokenBreakers),
                configuration: cacheConfiguration,
                now: resilience.clock.now,
                logger: logger,
                onRotation: { refreshTokens?.rotated(accountID: $0, refreshToken: $1) },
                onRefresh: { key, outcome in
                    let provider = current.withLockedValue { $0 }?.lookup(tokenKey: key)?.account.provider.rawValue ?? "unknown"
                    switch outcome {
                    case .success: ProxyMetrics.recordTokenRefresh(provider: provider, .ok)
                    case .failure(.credentialsRejected): ProxyMetrics.recordTokenRefresh(provider: provider, .rejected)
                    case .failure: ProxyMetrics.recordTokenRefresh(provider: provider, .failed)
                    }
                })
            let connector = UpstreamConnector(group: group, tokens: tokens, timeouts: configuration.upstreamTimeouts,
                                              heloName: configuration.heloName, hostBreakers: hostBreakers, logger: logger,
                                              dryRun: configuration.dryRun, now: resilience.clock.now)
            if configuration.dryRun {
                logger.notice("dry run: messages go to an in-process provider that accepts and drops them; no token is fetched")
            }
            // Reads CA and state files: off the event loop.
            let accounts = try await NIOThreadPool.singleton.runIfActive {
                try RelayAccounts(directory: directory, tls: UpstreamTLSContexts(), connector: connector,
                                  resilience: resilience, refreshTokens: refreshTokens,
                                  quotaCounters: stateFiles?.quotaCounters) { pool in
                    var pool = pool
                    pool.acquireTimeout = configuration.poolAcquireTimeout
                    pool.idleTimeout = configuration.upstreamIdleTimeout
                    pool.tokenExpirySafety = configuration.upstreamTokenExpirySafety
                    return pool
                }
            }
            current.withLockedValue { $0 = accounts }
            let server = try await RelayServer.bind(configuration.server, accounts: accounts, group: group,
                                                    clock: configuration.resilience.clock, logger: logger)
            return ProxyRuntime(server: server, tokens: tokens, httpClient: httpClient)
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
    }

    /// The client for token endpoints: each request bounded by the token timeout, no redirects
    /// (a token endpoint that redirects is misconfigured, and following it could leak secrets).
    static func makeTokenHTTPClient(_ configuration: Configuration, group: any EventLoopGroup) -> HTTPClient {
        var httpConfiguration = HTTPClient.Configuration()
        let requestTimeout = TimeAmount(configuration.tokenRequestTimeout)
        httpConfiguration.timeout = .init(connect: min(requestTimeout, .seconds(10)), read: requestTimeout)
        httpConfiguration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .shared(group), configuration: httpConfiguration)
    }

    /// Without a state directory, an account whose provider rotates refresh tokens loses the
    /// rotated one at every restart and depends on the old one still being accepted.
    static func openStateDirectory(_ path: String?, directory: AccountDirectory, logger: Logger) async throws -> StateFiles? {
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

    /// Breakers change state rarely; each change is worth one line.
    private static func logTransition(kind: String, logger: Logger) -> @Sendable (CircuitBreaker.Transition) -> Void {
        { transition in
            var metadata: Logger.Metadata = ["breaker": "\(transition.breaker)", "from": "\(transition.from.rawValue)"]
            if let coolDown = transition.coolDown { metadata["cool_down_s"] = "\(coolDown.components.seconds)" }
            switch transition.to {
            case .open: logger.error("\(kind) circuit breaker opened", metadata: metadata)
            case .halfOpen: logger.notice("\(kind) circuit breaker half-open: probing", metadata: metadata)
            case .closed: logger.notice("\(kind) circuit breaker closed", metadata: metadata)
            }
        }
    }

    /// Applies a new set of accounts while serving: validated whole first (a bad CA file
    /// changes nothing), then swapped; pools of changed or removed accounts retire in the
    /// background.
    public func reload(_ directory: AccountDirectory) async throws -> AccountChanges {
        let accounts = server.accounts
        let (changes, retired) = try await NIOThreadPool.singleton.runIfActive { try accounts.replace(with: directory) }
        for pool in retired { Task { await pool.retire() } }
        return changes
    }

    /// Writes what `--state-dir` keeps (daily counts) now; also done every 30 s and at shutdown.
    public func persistState() async {
        await server.accounts.persistCounters()
    }

    /// After the server's `run` returned.
    public func shutdown() async {
        await persistState()
        try? await httpClient.shutdown()
    }
}
