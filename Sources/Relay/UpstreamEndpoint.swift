import Accounts
import NIOConcurrencyHelpers
import NIOSSL
import SMTPNIO

/// Where and how an account's upstream is reached, resolved once per configuration so no file
/// is read and no TLS context is built on the hot path.
public struct UpstreamEndpoint: Sendable {
    public var host: String
    public var port: Int
    public var tls: SMTPClientConnection.TLSMode
}

/// TLS client contexts, one per extra trust anchor file: building one loads the system roots,
/// which is too slow to do per connection.
public final class UpstreamTLSContexts: Sendable {
    private let contexts = NIOLockedValueBox([String: NIOSSLContext]())

    public init() {}

    /// Builds the endpoint for an account. Reads files: call at configuration time only.
    public func endpoint(for account: Account) throws -> UpstreamEndpoint {
        let tls: SMTPClientConnection.TLSMode
        switch account.smtpTLS {
        case .none: tls = .none
        case .starttls: tls = .startTLS(try context(caFile: account.tlsCAFile))
        case .tls: tls = .implicit(try context(caFile: account.tlsCAFile))
        }
        return UpstreamEndpoint(host: account.smtpHost, port: account.smtpPort, tls: tls)
    }

    private func context(caFile: String?) throws -> NIOSSLContext {
        let key = caFile ?? ""
        if let existing = contexts.withLockedValue({ $0[key] }) { return existing }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile {
            configuration.additionalTrustRoots = [.file(caFile)]
        }
        let context = try NIOSSLContext(configuration: configuration)
        contexts.withLockedValue { $0[key] = context }
        return context
    }
}
