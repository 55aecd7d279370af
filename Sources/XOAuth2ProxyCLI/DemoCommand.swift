import Accounts
import ArgumentParser
import Foundation
import Logging
import NIOPosix
import Relay
import Sandbox
import ServiceLifecycle

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the proxy against the built-in sandbox provider, with a demo account, in one process.")

    @Option(help: "Address the proxy listens on.")
    var host = "127.0.0.1"

    @Option(help: "SMTP port the proxy listens on.")
    var port = 2525

    @Option(help: "Directory where the sandbox stores the messages it accepts.")
    var store = "sandbox-mail"

    @Option(help: "How the demo account gets its tokens: refresh_token (its own consent), client_credentials (an application with a generated certificate, one token for a whole domain) or service_account (a Google service account with domain-wide delegation); the last two as a shared credential.")
    var grant: DemoGrant = .refreshToken

    @OptionGroup var logging: LoggingOptions

    static let email = "demo@example.com"
    static let password = "demo-password"

    func run() async throws {
        guard (0...65535).contains(port) else { throw StartupFailure.configuration("--port: \(port) is not a port number (0-65535)") }
        let logger = logging.bootstrap()
        var sandboxSettings = SandboxProvider.Configuration()
        sandboxSettings.storeDirectory = store
        let sandbox = try await SandboxProvider.start(sandboxSettings, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        // Private (0700): for the app-only grants it holds a private key, as a mounted Secret would.
        let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("xoauth2-proxy-demo-\(getpid())").path
        try? FileManager.default.removeItem(atPath: stateDirectory)
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
        let setup: DemoAccountSetup
        do {
            setup = try DemoAccountSetup.make(grant, sandbox: sandbox, stateDirectory: stateDirectory)
        } catch {
            await sandbox.close()
            throw error
        }
        var settings = ProxyRuntime.Configuration()
        settings.server.host = host
        settings.server.port = port
        let runtime = try await startRuntime(settings, directory: setup.directory, logger: logger)
        printInstructions(proxyPort: runtime.server.port, sandbox: sandbox, setup: setup)
        let tokenRequests = DemoTokenRequestLog(issuer: sandbox.issuer, logger: logger)
        // The proxy last: it stops first, and its sessions drain while the sandbox still answers.
        try await ServiceRunner.run([sandbox, tokenRequests, runtime], logger: logger)
    }

    private func printInstructions(proxyPort: Int, sandbox: SandboxProvider, setup: DemoAccountSetup) {
        let storePath = URL(fileURLWithPath: store).standardizedFileURL.path
        let text = """

            xoauth2-proxy demo is running.
              proxy (what your app talks to):  smtp://\(host):\(proxyPort)   user \(Self.email)   password \(Self.password)
              sandbox provider:                 SMTP 127.0.0.1:\(sandbox.smtpPort) (STARTTLS + XOAUTH2), tokens at \(sandbox.tokenURL)
              grant:                            \(setup.summary)\(setup.notes.map { "\n" + String(repeating: " ", count: 36) + $0 }.joined())

            Send a message through it (either command):
              swaks --server \(host):\(proxyPort) --auth PLAIN --auth-user \(Self.email) --auth-password \(Self.password) --from \(Self.email) --to someone@example.net
              python3 -c "import smtplib; s = smtplib.SMTP('\(host)', \(proxyPort)); s.login('\(Self.email)', '\(Self.password)'); s.sendmail('\(Self.email)', ['someone@example.net'], 'Subject: hello\\r\\n\\r\\nIt works.\\r\\n'); s.quit()"

            Accepted messages land in \(storePath)/ (NNNNNN.eml with NNNNNN.json beside it). Ctrl-C stops.

            """
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// How `demo` gets its account's tokens.
enum DemoGrant: String, ExpressibleByArgument, CaseIterable, Sendable {
    case refreshToken = "refresh_token"
    case clientCredentials = "client_credentials"
    case serviceAccount = "service_account"
}

/// The demo account and what the in-process sandbox was given for it. For the app-only grants
/// the account is loaded, as `serve` would load it, from an accounts document with a shared
/// credential (`accounts.json` in the state directory, the key files beside it, mode 0600), so
/// the demo shows the shape a real deployment uses.
struct DemoAccountSetup {
    static let applicationID = "demo-app"
    /// The shared credential's name in the accounts document, for each app-only grant.
    static let applicationCredential = "demo-app"
    static let serviceAccountCredential = "demo-dwd"
    /// Every mailbox of the demo's domain: what an organisation's application credential covers.
    static let domain = "example.com"

    var directory: AccountDirectory
    /// One line: the grant and what stands in for the provider's side of it.
    var summary: String
    /// Further lines: where the files are. Paths and public facts only, never key material.
    var notes: [String] = []

    static func make(_ grant: DemoGrant, sandbox: SandboxProvider, stateDirectory: String) throws -> DemoAccountSetup {
        let caFile = try sandbox.writeCertificate(toDirectory: stateDirectory)
        switch grant {
        case .refreshToken:
            // Fresh credentials every run: the demo never ships a secret, not even a fake one.
            let clientSecret = RandomText.token(24)
            let refreshToken = RandomText.token(32)
            sandbox.issuer.register(email: DemoCommand.email, clientID: "demo-client", clientSecret: clientSecret, refreshToken: refreshToken)
            let account = Account(
                accountID: "demo", email: DemoCommand.email, provider: .custom, clientID: "demo-client", clientSecret: clientSecret,
                refreshToken: refreshToken, password: DemoCommand.password, tokenURL: sandbox.tokenURL,
                smtpHost: "127.0.0.1", smtpPort: sandbox.smtpPort, smtpTLS: .starttls, tlsCAFile: caFile, maxConnections: 5)
            return DemoAccountSetup(directory: try AccountDirectory(accounts: [account]),
                                    summary: "refresh_token (the mailbox's own consent, registered in the sandbox)")
        case .clientCredentials:
            let registration = try sandbox.issuer.registerApplication(
                clientID: applicationID, credential: .generatedCertificate, domains: [domain])
            try writePrivate(registration.certificatePEM ?? "", to: stateDirectory + "/cert.pem")
            try writePrivate(registration.privateKeyPEM ?? "", to: stateDirectory + "/key.pem")
            let credential: [String: Any] = [
                "provider": "outlook", "grant": "client_credentials", "client_id": applicationID,
                "certificate_file": "cert.pem", "private_key_file": "key.pem", "token_url": sandbox.tokenURL,
            ]
            let document = try writeDocument(credential, named: applicationCredential, sandbox: sandbox, caFile: caFile,
                                             stateDirectory: stateDirectory)
            return DemoAccountSetup(
                directory: try load(document),
                summary: "client_credentials: application \(applicationID) with a generated certificate (x5t#S256 \(registration.thumbprint ?? "?")), "
                    + "one app-only token for every mailbox of \(domain)",
                notes: ["shared credential \"\(applicationCredential)\" in \(document) (cert.pem, key.pem beside it, 0600)"])
        case .serviceAccount:
            let key = try sandbox.issuer.makeServiceAccount(name: "demo-relay", domains: [domain])
            try key.write(to: stateDirectory + "/service-account.json")
            // The key file's token_uri is the sandbox's token URL: no token_url needed.
            let credential: [String: Any] = ["provider": "gmail", "grant": "service_account", "service_account_file": "service-account.json"]
            let document = try writeDocument(credential, named: serviceAccountCredential, sandbox: sandbox, caFile: caFile,
                                             stateDirectory: stateDirectory)
            return DemoAccountSetup(
                directory: try load(document),
                summary: "service_account: \(key.email) (client id \(key.clientID)) with domain-wide delegation for \(domain), "
                    + "one token per mailbox (the assertion's sub)",
                notes: ["shared credential \"\(serviceAccountCredential)\" in \(document) (service-account.json beside it, 0600)"])
        }
    }

    /// The accounts document `serve --config` would read: the credential, and the demo account using it.
    private static func writeDocument(_ credential: [String: Any], named name: String, sandbox: SandboxProvider, caFile: String,
                                      stateDirectory: String) throws -> String {
        var upstream = credential
        upstream["smtp_host"] = "127.0.0.1"
        upstream["smtp_port"] = sandbox.smtpPort
        upstream["tls_ca_file"] = (caFile as NSString).lastPathComponent
        let document: [String: Any] = [
            "credentials": [name: upstream],
            "accounts": [["account_id": "demo", "email": DemoCommand.email, "credential": name, "password": DemoCommand.password]],
        ]
        let path = stateDirectory + "/accounts.json"
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try writePrivate(String(decoding: data, as: UTF8.self), to: path)
        return path
    }

    private static func load(_ path: String) throws -> AccountDirectory {
        do {
            return try AccountSourceLoader.load(AccountSources(configFile: path)).directory
        } catch {
            throw StartupFailure.configuration(error.description)
        }
    }

    /// Mode 0600 in the 0700 state directory: as a Secret is mounted, readable by this user only.
    private static func writePrivate(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw StartupFailure.runtime("demo: cannot write \(path)")
        }
    }
}

/// Logs each token request the sandbox serves, so the demo shows which grant got the token and
/// that later messages reuse it. Polled: the issuer has no hook, and a quarter of a second late
/// is soon enough for someone reading a terminal. The request log holds no secrets.
struct DemoTokenRequestLog: Service {
    let issuer: SandboxTokenIssuer
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var seen = 0
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(250))
                let total = issuer.tokenRequestCount()
                guard total > seen else { continue }
                for request in issuer.tokenRequests().suffix(total - seen) {
                    logger.info("sandbox served a token request", metadata: [
                        "grant_type": "\(request.grantType)", "client": "\(request.client ?? "-")",
                        "credential": "\(request.credential ?? "-")", "mailbox": "\(request.subject ?? "-")",
                        "status": "\(request.status)",
                    ])
                }
                seen = total
            }
        }
    }
}

enum RandomText {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    static func token(_ length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }
}
