import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
@testable import Sandbox
import SMTPCore
import SMTPNIO
import TestSupport

/// A sandbox provider on loopback (port 0, its throwaway certificate trusted by the client),
/// and authenticated client sessions to it.
final class SandboxHarness: Sendable {
    static let email = "user@example.com"

    let sandbox: SandboxProvider
    private let task: Task<Void, any Error>
    private let clientTLS: NIOSSLContext
    private let accessToken: String

    var faults: SandboxFaults { sandbox.faults }
    var store: SandboxMailStore { sandbox.store }

    private init(sandbox: SandboxProvider, task: Task<Void, any Error>, clientTLS: NIOSSLContext, accessToken: String) {
        self.sandbox = sandbox
        self.task = task
        self.clientTLS = clientTLS
        self.accessToken = accessToken
    }

    static func start() async throws -> SandboxHarness {
        var logger = Logger(label: "sandbox-test")
        logger.logLevel = .critical
        var settings = SandboxProvider.Configuration()
        settings.messagesInMemory = 100
        let sandbox = try await SandboxProvider.start(settings, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let task = Task { try await sandbox.run() }
        do {
            // A token straight from the issuer: the HTTP endpoint is not what these tests are about.
            sandbox.issuer.registerClientCredentials(email: email, clientID: "cid", clientSecret: "secret")
            let outcome = sandbox.issuer.answer(form: ["grant_type": "client_credentials", "client_id": "cid", "client_secret": "secret"],
                                                basicAuth: nil)
            guard case .issued(let token, _, _) = outcome else { throw HarnessFailure("no token: \(outcome)") }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(sandbox.certificate.certificatePEM.utf8), format: .pem)])
            return SandboxHarness(sandbox: sandbox, task: task, clientTLS: try NIOSSLContext(configuration: tls), accessToken: token)
        } catch {
            await sandbox.close()
            _ = await task.result
            throw error
        }
    }

    func stop() async {
        await sandbox.close()
        _ = await task.result
    }

    /// The reply to AUTH XOAUTH2 as `email` with `token`, on a new connection that is then closed.
    func authenticate(email: String, token: String) async throws -> SMTPReply {
        var timeouts = SMTPClientConnection.Timeouts()
        timeouts.command = .seconds(60)
        let connection = try await SMTPClientConnection.connect(
            .init(host: "127.0.0.1", port: sandbox.smtpPort, tls: .startTLS(clientTLS), heloName: "test.client", timeouts: timeouts),
            group: MultiThreadedEventLoopGroup.singleton)
        defer { connection.close() }
        return try await connection.authenticateXOAUTH2(email: email, accessToken: token)
    }

    /// Connected, through STARTTLS, and authenticated.
    func session() async throws -> SMTPClientConnection {
        var timeouts = SMTPClientConnection.Timeouts()
        // Guards against a hang, not measurements: a working sandbox answers at once.
        timeouts.command = .seconds(60)
        timeouts.dataEnd = .seconds(60)
        let connection = try await SMTPClientConnection.connect(
            .init(host: "127.0.0.1", port: sandbox.smtpPort, tls: .startTLS(clientTLS), heloName: "test.client", timeouts: timeouts),
            group: MultiThreadedEventLoopGroup.singleton)
        let reply = try await connection.authenticateXOAUTH2(email: Self.email, accessToken: accessToken)
        guard reply.code == 235 else {
            connection.close()
            throw HarnessFailure("AUTH failed: \(reply)")
        }
        return connection
    }
}

extension SMTPClientConnection {
    func command(_ line: String) async throws -> SMTPReply {
        try await send(line, step: "test").get()
    }

    /// MAIL, RCPT, DATA one at a time, then the body and the final dot; stops at the first
    /// reply that is not the expected one. Throws if the connection closes on the way.
    func sendMessage(from: String = "sender@example.com", to recipients: [String] = ["rcpt@example.net"],
                     message: String) async throws -> [SMTPReply] {
        var replies = [try await command("MAIL FROM:<\(from)>")]
        guard replies.last?.code == 250 else { return replies }
        for recipient in recipients {
            replies.append(try await command("RCPT TO:<\(recipient)>"))
            guard replies.last?.code == 250 else { return replies }
        }
        replies.append(try await command("DATA"))
        guard replies.last?.code == 354 else { return replies }
        try await sendBody(ByteBuffer(bytes: DotStuffing.stuff(Array(message.utf8))))
        replies.append(try await command("."))
        return replies
    }

    /// Whether the peer closed the connection within `limit` (without our closing it). The limit
    /// only bounds how long a broken build hangs: a peer that closes does so at once.
    func closedByPeer(within limit: Duration = TestDeadline.generous) async -> Bool {
        let closed = channel.closeFuture
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = try? await closed.get()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            // The close future cannot be cancelled; closing ourselves lets its task end.
            if !first { channel.close(promise: nil) }
            return first
        }
    }
}

struct HarnessFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
