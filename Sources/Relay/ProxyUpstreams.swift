import AsyncHTTPClient
import Logging
import NIOCore
import OAuth2
import Ops
import Resilience

/// The proxy's way to its providers, built one way for `serve` and `check` alike: the HTTP
/// client for token endpoints, a circuit breaker per token endpoint and per upstream host, the
/// token cache and the connector. Nothing here refers back to the accounts: the cache learns each
/// key's provider when the accounts register it, which is all its refresh metric needs.
struct ProxyUpstreams: Sendable {
    let httpClient: HTTPClient
    let tokens: TokenCache
    let connector: UpstreamConnector

    /// `sharing`: the fleet's token store (`--state-url` with `--state-key-file`).
    init(_ configuration: ProxyRuntime.Configuration, refreshTokens: RefreshTokenPersistence?, sharing: TokenSharing? = nil,
         group: any EventLoopGroup, logger: Logger) {
        httpClient = Self.makeTokenHTTPClient(configuration, group: group)
        let metrics = configuration.metrics
        let resilience = configuration.resilience
        let tokenBreakers = CircuitBreakerRegistry(configuration: resilience.tokenBreaker, clock: resilience.clock,
                                                   onTransition: Self.logTransition(kind: "token endpoint", logger: logger))
        let hostBreakers = CircuitBreakerRegistry(configuration: resilience.hostBreaker, clock: resilience.clock,
                                                  onTransition: Self.logTransition(kind: "upstream host", logger: logger))
        var cacheConfiguration = TokenCache.Configuration()
        cacheConfiguration.expiryMargin = configuration.tokenExpiryMargin
        // One clock for token expiry, the pools' token safety margin and the breakers: the
        // pools compare a connection's token expiry with their own now.
        tokens = TokenCache(
            grant: RefreshTokenGrant(transport: AsyncHTTPClientTransport(client: httpClient),
                                     configuration: .init(requestTimeout: configuration.tokenRequestTimeout),
                                     now: resilience.clock.now, breakers: tokenBreakers),
            configuration: cacheConfiguration,
            now: resilience.clock.now,
            logger: logger,
            sharing: sharing,
            onRotation: { refreshTokens?.rotated(accountID: $0, refreshToken: $1) },
            onRefresh: { _, provider, outcome in
                // Provider names label the counter: three values, so the label stays bounded.
                let provider = provider ?? "unknown"
                switch outcome {
                case .success: metrics.tokenRefreshed(provider: provider, .ok)
                case .failure(.credentialsRejected): metrics.tokenRefreshed(provider: provider, .rejected)
                case .failure: metrics.tokenRefreshed(provider: provider, .failed)
                }
            })
        connector = UpstreamConnector(group: group, tokens: tokens, timeouts: configuration.upstreamTimeouts,
                                      heloName: configuration.heloName, hostBreakers: hostBreakers, logger: logger,
                                      dryRun: configuration.dryRun, now: resilience.clock.now)
    }

    /// The one thing here that must be stopped: the HTTP client's connections.
    func shutdown() async {
        try? await httpClient.shutdown()
    }

    /// The client for token endpoints: each request bounded by the token timeout, no redirects
    /// (a token endpoint that redirects is misconfigured, and following it could leak secrets).
    static func makeTokenHTTPClient(_ configuration: ProxyRuntime.Configuration, group: any EventLoopGroup) -> HTTPClient {
        var httpConfiguration = HTTPClient.Configuration()
        let requestTimeout = TimeAmount(configuration.tokenRequestTimeout)
        httpConfiguration.timeout = .init(connect: min(requestTimeout, .seconds(10)), read: requestTimeout)
        httpConfiguration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .shared(group), configuration: httpConfiguration)
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
}
