import Accounts
import Foundation
import Logging
import NIOPosix
import Sandbox
import TestSupport
import Testing
@testable import XOAuth2ProxyCLI

/// `authorize` against the sandbox's device and authorization endpoints, auto-approved; then the
/// real binary's `check --smtp` and `serve` use the account it wrote, unchanged but for where the
/// sandbox's SMTP server is.
@Suite(.serialized) struct AuthorizeCommandSandboxTests {
    static func startSandbox() async throws -> (SandboxProvider, Task<Void, any Error>) {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let sandbox = try await SandboxProvider.start(SandboxProvider.Configuration(), group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        return (sandbox, Task { try await sandbox.run() })
    }

    /// The account as `authorize` wrote it, plus where the sandbox's SMTP side is, in a file the
    /// binary (run as the deployed user) can read.
    static func withSMTP(_ document: String, sandbox: SandboxProvider, work: URL) throws -> String {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any])
        var account = try #require((object["accounts"] as? [[String: Any]])?.first)
        account["smtp_host"] = "127.0.0.1"
        account["smtp_port"] = sandbox.smtpPort
        account["tls_ca_file"] = try sandbox.writeCertificate(toDirectory: work.path)
        let path = work.appendingPathComponent("with-smtp.json")
        try JSONSerialization.data(withJSONObject: ["accounts": [account]]).write(to: path)
        return path.path
    }

    /// `check --smtp` (refresh with the new refresh token, XOAUTH2 login as the mailbox), then
    /// `serve` relaying one message for an app that logs in with the generated password.
    static func checkAndRelay(_ document: String, email: String, provider: String, sandbox: SandboxProvider, work: URL) async throws {
        let path = try withSMTP(document, sandbox: sandbox, work: work)
        let check = try await Binary.run(["check", "--config", path, "--smtp", "--json"], timeout: .seconds(60))
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains(#""email":"\#(email)","provider":"\#(provider)","token":"ok","smtp":"ok""#))

        let password = try #require(try AccountsConfigLoader.load(contentsOf: path).accounts.first?.password)
        let serve = try await ServeProcessTests.ServeProcess.start(["serve", "--config", path, "--host", "127.0.0.1"], in: work, readOnlyRoot: nil)
        defer { serve.stop() }
        #expect(serve.smtpPort != 0, "no port in the log: \(serve.log)")
        let client = try await TestSMTPClient.connect(port: serve.smtpPort, group: MultiThreadedEventLoopGroup.singleton)
        #expect(try await client.login(email, password).code == 235)
        #expect(try await client.send(to: ["someone@example.net"], message: "Subject: authorized\r\n\r\nhello\r\n").last?.code == 250)
        await client.quit()
    }

    static func workDirectory() throws -> URL {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("authorize-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        return work
    }

    @Test func deviceFlowWithTheBinaryWritesAnAccountThatCheckAndServeUse() async throws {
        let (sandbox, sandboxTask) = try await Self.startSandbox()
        let work = try Self.workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        sandbox.issuer.registerInteractiveClient(clientID: "entra-public-app")
        sandbox.issuer.deviceCodeInterval = .seconds(1)
        // One authorization_pending first, so the binary's polling loop is exercised.
        sandbox.issuer.deviceApproval = .approve(mailbox: "sales@contoso.com", afterPolls: 1)

        let run = try await Binary.run(["authorize", "--provider", "outlook", "--client-id", "entra-public-app", "--email", "sales@contoso.com",
                                        "--device-url", sandbox.deviceCodeURL, "--token-url", sandbox.tokenURL, "--out", "-"],
                                       timeout: .seconds(60))
        #expect(run.status == 0, "\(run.stderr)")
        // Standard output holds the document alone; everything said to the operator went to stderr.
        let account = try #require(try AccountsConfigLoader.parse(run.stdout, source: "stdout").accounts.first)
        let refreshToken = try #require(account.refreshToken)
        #expect(account.email == "sales@contoso.com")
        #expect(account.provider == .outlook)
        #expect(account.tokenURL == sandbox.tokenURL)
        #expect(run.stderr.contains(sandbox.baseURL))
        #expect(run.stderr.contains("kubectl create secret generic xoauth2-proxy-accounts --from-file=sales_contoso.com.json="))
        #expect(run.stderr.contains(try #require(account.password)))
        #expect(!run.stderr.contains(refreshToken))
        #expect(!run.stderr.contains("sbx_at_"))
        #expect(!run.stderr.contains("sbx_dc_"))
        #expect(sandbox.issuer.tokenRequestCount(grantType: "urn:ietf:params:oauth:grant-type:device_code") == 2)

        try await Self.checkAndRelay(run.stdout, email: "sales@contoso.com", provider: "outlook", sandbox: sandbox, work: work)
        await sandbox.close()
        _ = await sandboxTask.result
    }

    @Test func loopbackPKCEFlowFollowedLikeABrowserWritesAnAccountThatCheckAndServeUse() async throws {
        let (sandbox, sandboxTask) = try await Self.startSandbox()
        let work = try Self.workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let clientID = "123-sandbox.apps.googleusercontent.com"
        let clientSecret = "GOCSPX-sandbox-SECRET-value"
        sandbox.issuer.registerInteractiveClient(clientID: clientID, clientSecret: clientSecret)
        sandbox.issuer.browserApproval = .approve(defaultMailbox: "nobody@acme.com")

        let out = work.appendingPathComponent("ops.json").path
        let request = AuthorizeRequest(provider: .gmail, clientID: clientID, clientSecret: clientSecret, tenant: nil, email: "ops@acme.com",
                                       port: 0, redirectTimeout: .seconds(120), out: out, force: false,
                                       authorizeURL: sandbox.authorizeURL, deviceURL: nil, tokenURL: sandbox.tokenURL)
        let console = AuthorizeCapturedConsole()
        // The production transport (async-http-client), as the command uses it.
        let task = Task { try await AuthorizeRun(request: request, console: console.console, hostName: "build-host").run() }

        func printedURL() -> URLComponents? {
            console.status.split(separator: "\n").lazy.map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.hasPrefix(sandbox.authorizeURL + "?") }.flatMap { URLComponents(string: $0) }
        }
        #expect(await eventually { printedURL() != nil })
        let url = try #require(printedURL())
        let sandboxPort = try #require(url.port)
        // The browser: GET the authorization URL, then follow its redirect to the loopback listener.
        let authorization = try await AuthorizeLoopbackTests.get(port: sandboxPort, target: url.percentEncodedPath + "?" + (url.percentEncodedQuery ?? ""))
        #expect(authorization.hasPrefix("HTTP/1.1 302"), "\(authorization)")
        let location = try #require(authorization.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location:") }
            .map { $0.dropFirst("location:".count).trimmingCharacters(in: .whitespaces) }
            .flatMap(URLComponents.init(string:)))
        #expect(location.host == "127.0.0.1")
        #expect(location.path == "/callback")
        let page = try await AuthorizeLoopbackTests.get(port: try #require(location.port),
                                                        target: location.percentEncodedPath + "?" + (location.percentEncodedQuery ?? ""))
        #expect(page.hasPrefix("HTTP/1.1 200"))
        try await task.value

        let account = try #require(try AccountsConfigLoader.load(contentsOf: out).accounts.first)
        let refreshToken = try #require(account.refreshToken)
        #expect(account.provider == .gmail)
        #expect(account.email == "ops@acme.com")
        #expect(try AuthorizeFixtures.mode(out) == 0o600)
        #expect(!console.status.contains(refreshToken))
        #expect(!console.status.contains(clientSecret))

        try await Self.checkAndRelay(try String(contentsOfFile: out, encoding: .utf8), email: "ops@acme.com", provider: "gmail",
                                     sandbox: sandbox, work: work)
        await sandbox.close()
        _ = await sandboxTask.result
    }
}
