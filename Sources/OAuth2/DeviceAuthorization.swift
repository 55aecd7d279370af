/// The OAuth 2.0 device authorization grant (RFC 8628), as Microsoft's identity platform runs
/// it: ask for a code, show it to the user, poll until they approve in any browser. Needs no
/// browser or listener on this machine, which is what a headless server has.
public struct DeviceAuthorization: Sendable {
    public struct Configuration: Sendable {
        public var deviceURL: String
        public var tokenURL: String
        public var clientID: String
        /// Public clients (the usual registration for device flow) have none.
        public var clientSecret: String?
        public var scope: String
        /// For each HTTP exchange.
        public var requestTimeout: Duration = .seconds(30)
        /// Transient failures (5xx, timeouts) tolerated in a row while polling.
        public var maxConsecutiveFailures = 5

        public init(deviceURL: String, tokenURL: String, clientID: String, clientSecret: String?, scope: String) {
            self.deviceURL = deviceURL
            self.tokenURL = tokenURL
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.scope = scope
        }
    }

    public static let deviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

    public let configuration: Configuration
    private let transport: any TokenHTTPTransport
    private let now: @Sendable () -> ContinuousClock.Instant
    private let sleep: @Sendable (Duration) async throws -> Void

    /// `now` and `sleep` are injected so tests run the whole wait on a manual clock.
    public init(configuration: Configuration, transport: any TokenHTTPTransport,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.configuration = configuration
        self.transport = transport
        self.now = now
        self.sleep = sleep
    }

    /// Asks for a code, hands it to `show` (print it), then polls until approved, refused or
    /// expired. Throws `ConsentFailure`, or `CancellationError` when the task is cancelled.
    public func run(show: @Sendable (DeviceAuthorizationCode) async -> Void) async throws -> ConsentTokens {
        let code = try await requestCode()
        await show(code)
        return try await poll(code)
    }

    func requestCode() async throws -> DeviceAuthorizationCode {
        var fields = [(name: "client_id", value: configuration.clientID), (name: "scope", value: configuration.scope)]
        if let secret = configuration.clientSecret { fields.append((name: "client_secret", value: secret)) }
        let reply: (status: Int, body: [UInt8])
        do {
            reply = try await transport.postForm(url: configuration.deviceURL, body: FormURLEncoding.encode(fields),
                                                 timeout: configuration.requestTimeout)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ConsentFailure.unavailable("device authorization request failed: \(Self.transportReason(error, secrets: secrets))")
        }
        return try DeviceAuthorizationCode.parse(status: reply.status, body: reply.body, secrets: secrets).get()
    }

    func poll(_ code: DeviceAuthorizationCode) async throws -> ConsentTokens {
        var poller = DeviceAuthorizationPoller(interval: code.interval, expiresIn: code.expiresIn, startedAt: now(),
                                               maxConsecutiveFailures: configuration.maxConsecutiveFailures)
        var fields = [(name: "grant_type", value: Self.deviceCodeGrantType), (name: "client_id", value: configuration.clientID),
                      (name: "device_code", value: code.deviceCode)]
        if let secret = configuration.clientSecret { fields.append((name: "client_secret", value: secret)) }
        let body = FormURLEncoding.encode(fields)
        let secrets = self.secrets + [code.deviceCode]
        var action = poller.start()
        while true {
            switch action {
            case .sleep(let duration):
                try await sleep(duration)
                action = poller.woke(now: now())
            case .poll:
                do {
                    let reply = try await transport.postForm(url: configuration.tokenURL, body: body, timeout: configuration.requestTimeout)
                    action = poller.received(ConsentTokenReply.classify(status: reply.status, body: reply.body, secrets: secrets))
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    action = poller.transportFailed(Self.transportReason(error, secrets: secrets))
                }
            case .finished(let tokens):
                return tokens
            case .failed(let failure):
                throw failure
            }
        }
    }

    private var secrets: [String] {
        [configuration.clientSecret].compactMap { $0 }
    }

    /// Transport errors may quote the URL or request; keep them short and secret-free.
    static func transportReason(_ error: any Error, secrets: [String]) -> String {
        ReplyText.description(ReplyText.redact("\(error)", secrets: secrets))
    }
}
