import Foundation
import Relay
import TestSupport
import Testing
@testable import XOAuth2ProxyCLI

/// The TLS-for-apps options as `serve` parses them, and the binary's refusal to start a relay
/// off loopback that no app could log in to without sending its password in clear.
@Suite(.serialized) struct ServerTLSOptionsTests {
    static func config() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tls-cli-\(UUID().uuidString).json").path
        try #"[{"email": "a@example.com", "provider": "gmail", "client_id": "c", "client_secret": "s", "refresh_token": "r", "password": "p"}]"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func settings(_ arguments: [String]) throws -> RelayServer.Configuration {
        try ServeCommand.parse(["--config", try config()] + arguments).validatedSettings().1.server
    }

    @Test func tlsOptionsReachTheServerSettings() throws {
        let server = try Self.settings(["--tls-cert", "/t/tls.crt", "--tls-key", "/t/tls.key", "--tls-port", "4465",
                                        "--tls-handshake-timeout", "7"])
        #expect(server.tls?.files == .init(certificatePath: "/t/tls.crt", keyPath: "/t/tls.key"))
        #expect(server.tls?.implicitPort == 4465)
        #expect(server.tls?.handshakeTimeout == .seconds(7))
        #expect(server.allowPlaintextAuth == false)
        #expect(try Self.settings([]).tls == nil)
        #expect(try Self.settings(["--allow-plaintext-auth"]).allowPlaintextAuth)
    }

    @Test func inconsistentTLSOptionsAreConfigurationErrors() throws {
        for (arguments, message) in [
            (["--tls-cert", "/t/c"], "--tls-cert needs --tls-key"),
            (["--tls-key", "/t/k"], "--tls-key needs --tls-cert"),
            (["--tls-port", "4465"], "--tls-port needs --tls-cert and --tls-key"),
            (["--tls-cert", "/t/c", "--tls-key", "/t/k", "--tls-port", "2525"], "implicit TLS needs a port of its own"),
            (["--tls-cert", "/t/c", "--tls-key", "/t/k", "--tls-port", "70000"], "is not a port number"),
            (["--tls-cert", "/t/c", "--tls-cert-file", "/t/other", "--tls-key", "/t/k"], "name different files"),
        ] {
            #expect(throws: StartupFailure.self, "\(arguments)") { try Self.settings(arguments) }
            do {
                _ = try Self.settings(arguments)
            } catch let failure as StartupFailure {
                #expect(failure.exitCode == 2)
                #expect(failure.message.contains(message), "\(failure.message)")
            }
        }
    }

    /// `XOAUTH2_PROXY_TLS_CERT` and the `_FILE` spelling both name the files.
    @Test func environmentFormsNameTheFiles() throws {
        for environment in [["XOAUTH2_PROXY_TLS_CERT": "/e/c", "XOAUTH2_PROXY_TLS_KEY": "/e/k"],
                            ["XOAUTH2_PROXY_TLS_CERT_FILE": "/e/c", "XOAUTH2_PROXY_TLS_KEY_FILE": "/e/k"]] {
            let arguments = EnvironmentFlags.apply(to: ["serve", "--config", try Self.config()], environment: environment)
            let server = try ServeCommand.parse(Array(arguments.dropFirst())).validatedSettings().1.server
            #expect(server.tls?.files == .init(certificatePath: "/e/c", keyPath: "/e/k"), "\(environment)")
        }
        let flag = EnvironmentFlags.apply(to: ["serve"], environment: ["XOAUTH2_PROXY_ALLOW_PLAINTEXT_AUTH": "true"])
        #expect(flag == ["serve", "--allow-plaintext-auth"])
    }

    @Test func theBinaryRefusesToListenOffLoopbackWithoutTLSOrTheFlag() async throws {
        let path = try Self.config()
        let refused = try await Binary.run(["serve", "--config", path, "--host", "0.0.0.0", "--port", "0", "--admin-port", "0"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("is not a loopback address"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--tls-cert") && refused.stderr.contains("--allow-plaintext-auth"), "\(refused.stderr)")

        let missing = try await Binary.run(["serve", "--config", path, "--host", "0.0.0.0", "--port", "0", "--admin-port", "0",
                                            "--tls-cert", "/nonexistent/tls.crt", "--tls-key", "/nonexistent/tls.key"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/nonexistent/tls.crt: cannot read the TLS certificate: No such file or directory"), "\(missing.stderr)")
    }
}
