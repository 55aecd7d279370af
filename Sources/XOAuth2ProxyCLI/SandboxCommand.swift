import ArgumentParser
import Foundation
import NIOPosix
import Sandbox
import ServiceLifecycle

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run only the sandbox provider: a token endpoint and an SMTP server requiring STARTTLS and XOAUTH2.")

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "SMTP port (0 picks a free one).")
    var smtpPort = 0

    @Option(help: "Token endpoint port (0 picks a free one).")
    var tokenPort = 0

    @Option(help: "Directory where accepted messages are written.")
    var store: String?

    @Option(help: "An accounts.json whose client ids, secrets and refresh tokens the token endpoint accepts.")
    var accounts: String?

    @Option(help: "EMAIL:CLIENT_ID:CLIENT_SECRET honoured for grant_type=client_credentials (repeatable).")
    var clientCredentials: [String] = []

    @Option(help: "Where to write the sandbox's certificate (for tls_ca_file).")
    var caOut: String?

    @Option(help: "Write a throwaway CA and a server certificate it signed for localhost, 127.0.0.1 and ::1 here (ca.crt, tls.crt, tls.key, as in a cert-manager Secret), for the proxy's --tls-cert and --tls-key; done before listening.")
    var tlsFilesOut: String?

    @Option(help: "Lifetime of issued access tokens, in seconds.")
    var tokenLifetime = 3600

    @Flag(help: "Offer AUTH without STARTTLS (for plaintext client tests).")
    var noTLS = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        for (name, value) in [("--smtp-port", smtpPort), ("--token-port", tokenPort)] where !(0...65535).contains(value) {
            throw StartupFailure.configuration("\(name): \(value) is not a port number (0-65535)")
        }
        let grants = try accounts.map(SandboxGrants.load) ?? []
        let clientGrants = try clientCredentials.map { value -> (String, String, String) in
            let parts = value.split(separator: ":", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
                throw StartupFailure.configuration("--client-credentials: expected EMAIL:CLIENT_ID:CLIENT_SECRET")
            }
            return (parts[0], parts[1], parts[2])
        }
        if let tlsFilesOut {
            do {
                _ = try SandboxCertificateAuthority.writeServerFiles(toDirectory: tlsFilesOut)
            } catch {
                throw StartupFailure.runtime("--tls-files-out: cannot write \(tlsFilesOut): \(error)")
            }
        }
        let logger = logging.bootstrap()
        var settings = SandboxProvider.Configuration()
        settings.host = host
        settings.smtpPort = smtpPort
        settings.tokenPort = tokenPort
        settings.storeDirectory = store
        settings.requireTLS = !noTLS
        settings.tokenLifetime = .seconds(tokenLifetime)
        // Run alone, nothing reads the in-memory copies; --store keeps them all on disk.
        settings.messagesInMemory = 100
        let sandbox: SandboxProvider
        do {
            sandbox = try await SandboxProvider.start(settings, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        } catch {
            throw StartupFailure.runtime("cannot start the sandbox: \(error)")
        }
        for grant in grants {
            sandbox.issuer.register(email: grant.email, clientID: grant.clientID, clientSecret: grant.clientSecret, refreshToken: grant.refreshToken)
        }
        for (email, clientID, secret) in clientGrants {
            sandbox.issuer.registerClientCredentials(email: email, clientID: clientID, clientSecret: secret)
        }
        if let caOut {
            try sandbox.certificate.writeCertificate(to: caOut)
        }
        let summary = "sandbox: smtp 127.0.0.1:\(sandbox.smtpPort) token \(sandbox.tokenURL) accounts \(grants.count)"
            + (caOut.map { " ca \($0)" } ?? "") + "\n"
        FileHandle.standardError.write(Data(summary.utf8))
        try await ServiceRunner.run([sandbox], logger: logger)
    }
}

/// The OAuth client and refresh token of each account in an accounts file, read leniently:
/// the sandbox only needs to know which grants to honour.
struct SandboxGrants {
    var email: String
    var clientID: String
    var clientSecret: String?
    var refreshToken: String

    static func load(_ path: String) throws -> [SandboxGrants] {
        let list = try AccountListFile.entries(path)
        return try list.enumerated().map { index, object in
            guard let email = object["email"] as? String, let clientID = object["client_id"] as? String,
                  let refreshToken = object["refresh_token"] as? String
            else { throw StartupFailure.configuration("\(path): account #\(index + 1): needs email, client_id and refresh_token") }
            return SandboxGrants(email: email, clientID: clientID, clientSecret: object["client_secret"] as? String, refreshToken: refreshToken)
        }
    }
}
