import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore
import SMTPNIO
import TestSupport
import Testing
@testable import LoadGenerator

/// STARTTLS with an extra trust anchor, as when driving the sandbox provider directly.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct StartTLSTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// A self-signed test certificate for 127.0.0.1 and localhost (valid 2020-2120) and its key,
    /// made for these tests with openssl; it protects nothing.
    static let certificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIBaDCCARCgAwIBAgICEAAwCgYIKoZIzj0EAwIwFTETMBEGA1UEAwwKYmVuY2gg
        c3R1YjAgFw0yMDAxMDEwMDAwMDBaGA8yMTIwMDEwMTAwMDAwMFowFTETMBEGA1UE
        AwwKYmVuY2ggc3R1YjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABH1onTidHlWF
        NwHLrSJ7X1HIJq9R0fdSct7Ydl3Rqb2tTQHcKJqJ+Jr+xSEq5LMI0L1YvKOdL/yx
        8wIe/T6iONKjTjBMMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9zdDAPBgNVHRMB
        Af8EBTADAQH/MB0GA1UdDgQWBBS0qrpVUdPrZksbrvjOGKJYyiX+CDAKBggqhkjO
        PQQDAgNGADBDAh95ho3dODIjztBQZkfTt11inOMgDRsR21g3JtUjFywNAiABHSa8
        RksynwQMDvaYPWgS4HSRKpMmoV+z3GLgr2d3gA==
        -----END CERTIFICATE-----
        """

    static let keyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgzeB5n7kVHcXliPY2
        JhgSyHXZlNfZXgZ59w5ylQ+HAJKhRANCAAR9aJ04nR5VhTcBy60ie19RyCavUdH3
        UnLe2HZd0am9rU0B3Ciaifia/sUhKuSzCNC9WLyjnS/8sfMCHv0+ojjS
        -----END PRIVATE KEY-----
        """

    private func serverContext() throws -> NIOSSLContext {
        let certificate = try NIOSSLCertificate(bytes: Array(Self.certificatePEM.utf8), format: .pem)
        let key = try NIOSSLPrivateKey(bytes: Array(Self.keyPEM.utf8), format: .pem)
        let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
        return try NIOSSLContext(configuration: configuration)
    }

    private func writeCAFile() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-ca-\(UUID().uuidString).pem").path
        try Self.certificatePEM.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func options(port: Int) -> LoadOptions {
        var options = LoadOptions()
        options.port = port
        options.connections = 3
        options.stop = .messages(30)
        options.authMechanism = .xoauth2
        options.credentials = [(user: "alice@example.com", secret: "token")]
        options.startTLS = true
        options.timeout = TestDeadline.generous
        options.reconnectDelay = .milliseconds(5)
        options.maxConsecutiveFailures = 2
        return options
    }

    @Test func messagesGoOverSTARTTLSWithTheExtraTrustAnchor() async throws {
        var behavior = StubSMTPServer.Behavior()
        behavior.tls = try serverContext()
        let server = try await StubSMTPServer.start(behavior, group: group)
        let caFile = try writeCAFile()
        defer { try? FileManager.default.removeItem(atPath: caFile) }
        var options = options(port: server.port)
        options.caFile = caFile
        let report = try await LoadGenerator(options: options, group: group).run()
        await server.stop()

        #expect(report.replyCodes == ["250": 30])
        #expect(report.connectionErrors == 0)
        #expect(server.seen.tlsSessions == 3)
        #expect(server.seen.authLines.count == 3)
        #expect(report.options["caFile"] == caFile)
    }

    @Test func anUntrustedCertificateIsAConnectionError() async throws {
        var behavior = StubSMTPServer.Behavior()
        behavior.tls = try serverContext()
        let server = try await StubSMTPServer.start(behavior, group: group)
        let report = try await LoadGenerator(options: options(port: server.port), group: group).run()
        await server.stop()

        #expect(report.messagesSent == 0)
        #expect(report.connectionErrors == 6)
        #expect(server.seen.authLines.isEmpty, "credentials went to an unverified server")
    }

    @Test func withoutSTARTTLSOnOfferTheSessionDoesNotAuthenticateInPlaintext() async throws {
        // The server offers no STARTTLS at all.
        let server = try await StubSMTPServer.start(group: group)
        let report = try await LoadGenerator(options: options(port: server.port), group: group).run()
        await server.stop()
        #expect(report.messagesSent == 0)
        #expect(report.connectionErrors == 6)
        #expect(server.seen.authLines.isEmpty)
    }

    @Test func anUnreadableCAFileFailsTheRunUpFront() async throws {
        var options = options(port: 9)
        options.caFile = "/nonexistent/bench-ca.pem"
        await #expect(throws: (any Error).self) {
            _ = try await LoadGenerator(options: options, group: group).run()
        }
    }
}
