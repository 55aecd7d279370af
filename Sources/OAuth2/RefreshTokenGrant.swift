import Foundation
import Logging
import Resilience

/// One token request for any grant (the name is historical: refresh_token was the first),
/// retried with backoff when the failure may be transient. Assertions are signed, federated
/// token files read and workload-identity steps run again for every attempt.
public struct RefreshTokenGrant: Sendable {
    public struct Configuration: Sendable {
        /// For one HTTP exchange, connect to last body byte.
        public var requestTimeout: Duration = .seconds(30)
        /// Total attempts including the first; values below 1 behave as 1.
        public var maxAttempts: Int = 3
        public var initialBackoff: Duration = .milliseconds(200)
        public var maxBackoff: Duration = .seconds(5)

        public init(requestTimeout: Duration = .seconds(30), maxAttempts: Int = 3,
                    initialBackoff: Duration = .milliseconds(200), maxBackoff: Duration = .seconds(5)) {
            self.requestTimeout = requestTimeout
            self.maxAttempts = maxAttempts
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
        }
    }

    let transport: any TokenHTTPTransport
    public let configuration: Configuration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let sleep: @Sendable (Duration) async throws -> Void
    private let jitter: @Sendable (Duration) -> Duration
    private let breakers: CircuitBreakerRegistry?
    /// The time written into JWT assertions (`iat`, `nbf`, `exp`); the provider compares it with its own clock.
    let wallClock: @Sendable () -> Date

    /// - Parameters:
    ///   - now: when a request is sent; the token's `expiresAt` counts from it.
    ///   - sleep: the pause between attempts; throwing (e.g. on cancellation) ends the retries.
    ///   - jitter: picks the actual pause given its cap; nil means full jitter (uniform in 0...cap).
    ///   - breakers: one circuit breaker per token endpoint host, so an outage costs one probe
    ///     per cool-down instead of a request (with retries) per account.
    ///   - wallClock: the time JWT assertions are issued at.
    public init(transport: any TokenHTTPTransport,
                configuration: Configuration = .init(),
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
                jitter: (@Sendable (Duration) -> Duration)? = nil,
                breakers: CircuitBreakerRegistry? = nil,
                wallClock: @escaping @Sendable () -> Date = { Date() }) {
        self.breakers = breakers
        self.wallClock = wallClock
        self.transport = transport
        self.configuration = configuration
        self.now = now
        self.sleep = sleep
        self.jitter = jitter ?? RetryBackoff.fullJitter
    }

    /// Returns the token and, if the response carried one, a new refresh token.
    /// `logger` should carry the account's metadata; each failed attempt logs one line to it.
    public func fetch(_ credentials: OAuth2Credentials, logger: Logger? = nil) async throws(TokenError) -> (token: AccessToken, newRefreshToken: String?) {
        let logger = logger ?? Self.silentLogger
        let secrets = credentials.secrets
        guard let host = Self.host(of: credentials.tokenURL) else {
            logger.error("token request not sent: token URL is not an absolute http(s) URL")
            throw .unavailable("token URL is not an absolute http(s) URL")
        }
        guard let breaker = breakers?.breaker(for: host) else {
            var failureFromTokenHost = false
            return try await exchange(credentials, host: host, secrets: secrets, logger: logger, failureFromTokenHost: &failureFromTokenHost)
        }
        if case .rejected(let retryAfter) = breaker.permit() {
            throw .endpointCircuitOpen(host: host, retryAfter: retryAfter)
        }
        var failureFromTokenHost = false
        do {
            let result = try await exchange(credentials, host: host, secrets: secrets, logger: logger, failureFromTokenHost: &failureFromTokenHost)
            breaker.recordSuccess()
            return result
        } catch {
            // A rejection is an answer: the endpoint works. Cancellation says nothing about it, and
            // neither does a failure before the token request (an unreadable federated token file,
            // the metadata server or IAM failing): the token host's breaker must not open for those.
            // A probe that reports nothing is presumed lost and the breaker picks another.
            if case .credentialsRejected = error {
                if failureFromTokenHost { breaker.recordSuccess() }
            } else if !Task.isCancelled && failureFromTokenHost {
                breaker.recordFailure()
            }
            throw error
        }
    }

    /// - Parameter failureFromTokenHost: set to whether the last attempt's failure came from the
    ///   token endpoint itself (an answer or a transport error), for its circuit breaker.
    private func exchange(_ credentials: OAuth2Credentials, host: String, secrets: [String], logger: Logger,
                          failureFromTokenHost: inout Bool) async throws(TokenError) -> (token: AccessToken, newRefreshToken: String?) {
        let attempts = max(1, configuration.maxAttempts)
        var attempt = 1
        while true {
            let sentAt = now()
            let reply: TokenReply
            failureFromTokenHost = false
            switch await tokenForm(for: credentials, secrets: secrets) {
            case .failure(.notSent(let why)):
                logger.error("token request not sent", metadata: ["token_host": "\(host)", "attempt": "\(attempt)", "reason": "\(why)"])
                throw .unavailable(why)
            case .failure(.cancelled):
                logger.warning("token request cancelled", metadata: ["token_host": "\(host)", "attempt": "\(attempt)"])
                throw .unavailable("token request to \(host) cancelled")
            case .failure(.step(let stepReply)):
                reply = stepReply
            case .success(let form):
                failureFromTokenHost = true
                let secrets = secrets + form.secrets
                do {
                    let (status, bytes) = try await transport.postForm(url: credentials.tokenURL, body: form.body, timeout: configuration.requestTimeout)
                    reply = TokenReply.classify(status: status, body: bytes, secrets: secrets)
                } catch {
                    if Task.isCancelled || error is CancellationError {
                        logger.warning("token request cancelled", metadata: ["token_host": "\(host)", "attempt": "\(attempt)"])
                        throw .unavailable("token request to \(host) cancelled")
                    }
                    reply = .retryable(Self.transportProblem(error, secrets: secrets))
                }
            }

            switch reply {
            case .token(let value, let expiresIn, let refreshToken):
                if attempt > 1 {
                    logger.info("token request succeeded after retry", metadata: ["token_host": "\(host)", "attempt": "\(attempt)"])
                }
                return (AccessToken(value: value, expiresAt: sentAt + expiresIn), refreshToken)

            case .rejected(let problem):
                let detail = Self.detail(problem)
                var remedy: Logger.Metadata = [:]
                if credentials.usesRefreshToken, problem.step == nil, problem.oauthError == "invalid_grant" {
                    remedy["fix"] = "\(Self.authorizeCommand(for: credentials, logger: logger))"
                }
                Self.log(problem, detail: detail, host: host, attempt: attempt, retryIn: nil, level: .error, logger: logger, extra: remedy)
                throw .credentialsRejected(detail)

            case .failed(let problem):
                Self.log(problem, detail: Self.detail(problem), host: host, attempt: attempt, retryIn: nil, level: .error, logger: logger)
                throw .unavailable("\(problem.host ?? host) answered \(Self.summary(problem))")

            case .retryable(let problem):
                guard attempt < attempts else {
                    Self.log(problem, detail: Self.detail(problem), host: host, attempt: attempt, retryIn: nil, level: .error, logger: logger)
                    throw .unavailable("\(problem.host ?? host): \(Self.summary(problem)) (gave up after \(attempt) attempt\(attempt == 1 ? "" : "s"))")
                }
                let pause = jitter(RetryBackoff.cap(afterAttempt: attempt, initial: configuration.initialBackoff, maximum: configuration.maxBackoff))
                Self.log(problem, detail: Self.detail(problem), host: host, attempt: attempt, retryIn: pause, level: .warning, logger: logger)
                do {
                    try await sleep(pause)
                } catch {
                    throw .unavailable("token request to \(host) cancelled while waiting to retry")
                }
                attempt += 1
            }
        }
    }

    // MARK: - Wording

    /// "invalid_grant: Token has been expired or revoked." — the shape `credentialsRejected` promises.
    private static func detail(_ problem: TokenReplyProblem) -> String {
        let code = problem.oauthError ?? problem.reason
        guard let description = problem.errorDescription, !description.isEmpty else { return code }
        return "\(code): \(description)"
    }

    private static func summary(_ problem: TokenReplyProblem) -> String {
        guard problem.oauthError != nil else { return problem.reason }
        return "\(problem.reason) \(detail(problem))"
    }

    private static func log(_ problem: TokenReplyProblem, detail: String, host: String, attempt: Int, retryIn: Duration?,
                            level: Logger.Level, logger: Logger, extra: Logger.Metadata = [:]) {
        var metadata: Logger.Metadata = extra.merging([
            "token_host": "\(host)",
            "attempt": "\(attempt)",
            "reason": "\(problem.reason)",
        ]) { $1 }
        if let step = problem.step { metadata["step"] = "\(step)" }
        if let stepHost = problem.host { metadata["step_host"] = "\(stepHost)" }
        if problem.status != 0 { metadata["http_status"] = "\(problem.status)" }
        if let code = problem.oauthError { metadata["oauth_error"] = "\(code)" }
        if let traceID = problem.traceID { metadata["trace_id"] = "\(traceID)" }
        if let correlationID = problem.correlationID { metadata["correlation_id"] = "\(correlationID)" }
        if let codes = problem.errorCodes { metadata["error_codes"] = "\(codes.map(String.init).joined(separator: ","))" }
        if problem.oauthError != nil { metadata["detail"] = "\(detail)" }
        if let retryIn { metadata["retry_in_ms"] = "\(retryIn.nanosecondsClamped / 1_000_000)" }
        logger.log(level: level, retryIn == nil ? "token request failed" : "token request failed; retrying", metadata: metadata)
    }

    static func host(of url: String) -> String? {
        guard let components = URLComponents(string: url),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty else { return nil }
        return host
    }

    private static let silentLogger = Logger(label: "oauth2.silent", factory: { _ in SwiftLogNoOpLogHandler() })
}
