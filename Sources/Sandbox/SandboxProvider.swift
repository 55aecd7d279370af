import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// The whole fake provider: token endpoint plus XOAUTH2-checking SMTP server, sharing one
/// token issuer, one mail store and one set of faults. A `Service` so it can run beside the
/// proxy in one ServiceGroup (the demo) or alone (`xoauth2-proxy sandbox`).
public final class SandboxProvider: Service, Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var smtpPort = 0
        public var tokenPort = 0
        public var requireTLS = true
        public var storeDirectory: String?
        public var tokenLifetime: Duration = .seconds(3600)
        /// Messages kept in memory for tests to read (the newest ones). A test matching every
        /// message it sent must set this above that count, or the oldest are silently evicted.
        public var messagesInMemory = 10_000
        /// The issuer's clock: token expiry, device code polling and JWT times (tests move it).
        public var now: @Sendable () -> ContinuousClock.Instant = { .now }
        public init() {}
    }

    public let issuer: SandboxTokenIssuer
    public let store: SandboxMailStore
    public let faults: SandboxFaults
    public let certificate: SandboxCertificate
    public let tokenEndpoint: SandboxTokenEndpoint
    private let smtp: SandboxSMTPServer
    private let configuration: Configuration
    private let logger: Logger

    public var smtpPort: Int { smtp.port }
    /// SMTP connections accepted so far.
    public var sessionsAccepted: Int { smtp.sessionsAccepted }
    public var tokenURL: String { tokenEndpoint.url }
    /// "http://127.0.0.1:PORT": the IAM base URL for signJwt, and the base of every other endpoint.
    public var baseURL: String { tokenEndpoint.baseURL }
    /// "127.0.0.1:PORT", for `GCE_METADATA_HOST`.
    public var metadataHost: String { String(baseURL.dropFirst("http://".count)) }
    /// Entra ID's device authorization endpoint.
    public var deviceCodeURL: String { baseURL + SandboxHTTPRouter.deviceCodePath }
    /// Google's authorization endpoint (loopback flow with PKCE).
    public var authorizeURL: String { baseURL + SandboxHTTPRouter.authorizePath }

    private init(configuration: Configuration, issuer: SandboxTokenIssuer, store: SandboxMailStore, faults: SandboxFaults,
                 certificate: SandboxCertificate, tokenEndpoint: SandboxTokenEndpoint, smtp: SandboxSMTPServer, logger: Logger) {
        self.configuration = configuration
        self.issuer = issuer
        self.store = store
        self.faults = faults
        self.certificate = certificate
        self.tokenEndpoint = tokenEndpoint
        self.smtp = smtp
        self.logger = logger
    }

    /// Binds both listeners (port 0 picks free ones).
    public static func start(_ configuration: Configuration, group: any EventLoopGroup, logger: Logger) async throws -> SandboxProvider {
        let certificate = try SandboxCertificate.generate()
        let issuer = SandboxTokenIssuer(tokenLifetime: configuration.tokenLifetime, now: configuration.now)
        let store = try SandboxMailStore(directory: configuration.storeDirectory, memoryLimit: configuration.messagesInMemory)
        let tokenEndpoint = try await SandboxTokenEndpoint.start(issuer: issuer, host: configuration.host, port: configuration.tokenPort, group: group, logger: logger)
        var smtpConfiguration = SandboxSMTPServer.Configuration()
        smtpConfiguration.host = configuration.host
        smtpConfiguration.port = configuration.smtpPort
        smtpConfiguration.requireTLS = configuration.requireTLS
        let smtp: SandboxSMTPServer
        do {
            smtp = try await SandboxSMTPServer.bind(smtpConfiguration, tls: certificate.makeServerContext(), group: group)
        } catch {
            try? await tokenEndpoint.shutdown()
            throw error
        }
        return SandboxProvider(configuration: configuration, issuer: issuer, store: store, faults: SandboxFaults(),
                               certificate: certificate, tokenEndpoint: tokenEndpoint, smtp: smtp, logger: logger)
    }

    public func run() async throws {
        logger.info("sandbox provider ready", metadata: ["smtp_port": "\(smtpPort)", "token_url": "\(tokenURL)"])
        try await withGracefulShutdownHandler {
            try await smtp.run(requireTLS: configuration.requireTLS, issuer: issuer, store: store, faults: faults, logger: logger)
        } onGracefulShutdown: { [smtp] in
            Task { await smtp.close() }
        }
        try? await tokenEndpoint.shutdown()
    }

    /// For tests that do not run it in a ServiceGroup.
    public func close() async {
        await smtp.close()
        try? await tokenEndpoint.shutdown()
    }

    /// Writes the sandbox's certificate so a proxy account can trust it (`tls_ca_file`).
    public func writeCertificate(toDirectory directory: String) throws -> String {
        let path = (directory as NSString).appendingPathComponent("sandbox-ca.pem")
        try certificate.writeCertificate(to: path)
        return path
    }
}
