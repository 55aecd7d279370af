import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import SMTPNIO

/// The sandbox's SMTP listener.
public final class SandboxSMTPServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 0
        public var requireTLS = true
        public init() {}
    }

    private let listener: SMTPListener
    private let accepted = NIOLockedValueBox(0)
    public var port: Int { listener.port }
    /// Connections accepted so far; tests use it to prove the proxy did not connect.
    public var sessionsAccepted: Int { accepted.withLockedValue { $0 } }

    private init(listener: SMTPListener) {
        self.listener = listener
    }

    public static func bind(_ configuration: Configuration, tls: NIOSSLContext, group: any EventLoopGroup) async throws -> SandboxSMTPServer {
        let startTLS: SMTPServerFramingHandler.StartTLS = { context in
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
        }
        let listener = try await SMTPListener.bind(
            SMTPListener.Configuration(host: configuration.host, port: configuration.port, idleTimeout: .minutes(5), startTLS: startTLS),
            group: group)
        return SandboxSMTPServer(listener: listener)
    }

    func run(requireTLS: Bool, issuer: SandboxTokenIssuer, store: SandboxMailStore, faults: SandboxFaults, logger: Logger) async throws {
        var sessionConfiguration = SandboxSMTPSession.Configuration()
        sessionConfiguration.requireTLS = requireTLS
        try await listener.run { [sessionConfiguration, accepted] connection in
            accepted.withLockedValue { $0 += 1 }
            var session = SandboxSMTPSession(configuration: sessionConfiguration, issuer: issuer, store: store, faults: faults, logger: logger)
            await session.run(connection)
        }
    }

    public func close() async {
        await listener.close()
    }
}
