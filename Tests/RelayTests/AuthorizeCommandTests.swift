import Accounts
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import OAuth2
import TestSupport
import Testing
@testable import XOAuth2ProxyCLI

/// A token endpoint answering from a script, recording the form fields of what was sent.
final class AuthorizeScriptedTransport: TokenHTTPTransport {
    private let state: NIOLockedValueBox<(script: [(Int, String)], sent: [(url: String, fields: [String: String])])>

    init(_ script: [(Int, String)]) {
        state = NIOLockedValueBox((script, []))
    }

    var sent: [(url: String, fields: [String: String])] { state.withLockedValue { $0.sent } }

    func postForm(url: String, body: String, timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            fields[String(parts[0])] = parts.count > 1 ? String(parts[1]).removingPercentEncoding : ""
        }
        let reply = state.withLockedValue { state in
            state.sent.append((url, fields))
            return state.script.isEmpty ? (500, #"{"error":"script_exhausted"}"#) : state.script.removeFirst()
        }
        return (reply.0, Array(reply.1.utf8))
    }
}

/// What `authorize` printed, per stream.
final class AuthorizeCapturedConsole: Sendable {
    private let lines = NIOLockedValueBox((status: [String](), document: [String]()))

    var console: AuthorizeConsole {
        AuthorizeConsole(status: { [self] text in lines.withLockedValue { $0.status.append(text) } },
                         document: { [self] text in lines.withLockedValue { $0.document.append(text) } })
    }

    var status: String { lines.withLockedValue { $0.status.joined(separator: "\n") } }
    var document: String { lines.withLockedValue { $0.document.joined() } }
}

enum AuthorizeFixtures {
    static let refreshToken = "M.C123_BAY.0.U.-Refresh-SECRET-token!value*with$chars"
    static let accessToken = "EwBwA8l6BAAU-access-SECRET-token"
    static let clientSecret = "client-SECRET-value-42"
    static let password = "Pw0123456789abcdefghijklmnopqrstu"

    static let deviceCode = (200, """
        {"device_code":"DAQ-device-SECRET","user_code":"FJ8K2LQ9M","verification_uri":"https://microsoft.com/devicelogin",\
        "expires_in":900,"interval":5,"message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code FJ8K2LQ9M to authenticate."}
        """)
    static let pending = (400, #"{"error":"authorization_pending"}"#)
    static let tokens = (200, #"{"token_type":"Bearer","access_token":"\#(accessToken)","expires_in":3599,"refresh_token":"\#(refreshToken)"}"#)

    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("authorize-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func outlook(out: String, force: Bool = false, tokenURL: String? = nil, email: String = "sales@contoso.com") -> AuthorizeRequest {
        AuthorizeRequest(provider: .outlook, clientID: "11111111-2222-3333-4444-555555555555", clientSecret: nil, tenant: nil,
                         email: email, port: 0, redirectTimeout: .seconds(600), out: out, force: force,
                         authorizeURL: nil, deviceURL: nil, tokenURL: tokenURL)
    }

    /// Runs with no real waiting: sleeps return at once.
    static func run(_ request: AuthorizeRequest, transport: AuthorizeScriptedTransport) async -> (Result<Void, StartupFailure>, AuthorizeCapturedConsole) {
        let console = AuthorizeCapturedConsole()
        let run = AuthorizeRun(request: request, console: console.console, transport: transport,
                               sleep: { _ in }, generatePassword: { password }, hostName: "build-host")
        do {
            try await run.run()
            return (.success(()), console)
        } catch let failure as StartupFailure {
            return (.failure(failure), console)
        } catch {
            Issue.record("unexpected \(error)")
            return (.failure(.runtime("unexpected")), console)
        }
    }

    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }
}

@Suite struct AuthorizeCommandTests {
    @Test func deviceFlowWritesALoadableAccountFile0600AndPrintsNoToken() async throws {
        let directory = try AuthorizeFixtures.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/sales.json"
        let transport = AuthorizeScriptedTransport([AuthorizeFixtures.deviceCode, AuthorizeFixtures.pending, AuthorizeFixtures.tokens])
        let (result, console) = await AuthorizeFixtures.run(AuthorizeFixtures.outlook(out: out), transport: transport)
        try result.get()

        #expect(try AuthorizeFixtures.mode(out) == 0o600)
        let account = try #require(try AccountsConfigLoader.load(contentsOf: out).accounts.first)
        #expect(account.email == "sales@contoso.com")
        #expect(account.provider == .outlook)
        #expect(account.clientID == "11111111-2222-3333-4444-555555555555")
        #expect(account.refreshToken == AuthorizeFixtures.refreshToken)
        #expect(account.password == AuthorizeFixtures.password)
        #expect(account.tenant == "organizations")
        #expect(account.tokenURL == "https://login.microsoftonline.com/organizations/oauth2/v2.0/token")
        // The same endpoints the proxy refreshes at.
        #expect(transport.sent.map(\.url) == ["https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode",
                                              "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
                                              "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"])
        #expect(transport.sent[0].fields["scope"] == "https://outlook.office.com/SMTP.Send offline_access")

        let status = console.status
        #expect(status.contains("https://microsoft.com/devicelogin"))
        #expect(status.contains("FJ8K2LQ9M"))
        #expect(status.contains("kubectl create secret generic xoauth2-proxy-accounts --from-file=sales.json=\(out)"))
        // The password once, the tokens and the device code never.
        #expect(status.components(separatedBy: AuthorizeFixtures.password).count == 2)
        for secret in [AuthorizeFixtures.refreshToken, AuthorizeFixtures.accessToken, "DAQ-device-SECRET"] {
            #expect(!status.contains(secret))
        }
        #expect(console.document.isEmpty)
        // Nothing left behind but the file itself.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["sales.json"])
    }

    @Test func anExistingFileIsKeptWithoutForceAndReplacedWithIt() async throws {
        let directory = try AuthorizeFixtures.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/sales.json"
        try "precious".write(toFile: out, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: out)

        let refused = AuthorizeScriptedTransport([AuthorizeFixtures.deviceCode, AuthorizeFixtures.tokens])
        let (result, _) = await AuthorizeFixtures.run(AuthorizeFixtures.outlook(out: out), transport: refused)
        guard case .failure(let failure) = result else {
            Issue.record("expected a refusal")
            return
        }
        #expect(failure.exitCode == 2)
        #expect(failure.message.contains("--force"))
        // Refused before anyone is asked to consent.
        #expect(refused.sent.isEmpty)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "precious")

        let forced = AuthorizeScriptedTransport([AuthorizeFixtures.deviceCode, AuthorizeFixtures.tokens])
        let (again, _) = await AuthorizeFixtures.run(AuthorizeFixtures.outlook(out: out, force: true), transport: forced)
        try again.get()
        #expect(try AccountsConfigLoader.load(contentsOf: out).accounts.first?.refreshToken == AuthorizeFixtures.refreshToken)
        #expect(try AuthorizeFixtures.mode(out) == 0o600)
    }

    @Test func theWriteItselfRefusesAFileThatAppearedDuringTheConsent() throws {
        let directory = try AuthorizeFixtures.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/late.json"
        try "appeared meanwhile".write(toFile: out, atomically: true, encoding: .utf8)
        #expect(throws: AuthorizeAccountFile.WriteError.self) { try AuthorizeAccountFile.write("{}", to: out, force: false) }
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "appeared meanwhile")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["late.json"])
    }

    @Test func theFileIs0600WhateverTheUmask() throws {
        let directory = try AuthorizeFixtures.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let previous = umask(0)
        defer { umask(previous) }
        try AuthorizeAccountFile.write("{}", to: directory + "/a.json", force: false)
        #expect(try AuthorizeFixtures.mode(directory + "/a.json") == 0o600)
    }

    @Test func dashWritesTheDocumentAloneToStandardOutput() async throws {
        let transport = AuthorizeScriptedTransport([AuthorizeFixtures.deviceCode, AuthorizeFixtures.tokens])
        let (result, console) = await AuthorizeFixtures.run(AuthorizeFixtures.outlook(out: "-"), transport: transport)
        try result.get()
        let directory = try AccountsConfigLoader.parse(console.document, source: "stdout")
        #expect(directory.accounts.first?.refreshToken == AuthorizeFixtures.refreshToken)
        #expect(!console.status.contains(AuthorizeFixtures.refreshToken))
        #expect(console.status.contains("--from-file=sales_contoso.com.json="))
    }

    @Test func aTokenURLOverrideIsWrittenSoRefreshesGoThereToo() async throws {
        let transport = AuthorizeScriptedTransport([AuthorizeFixtures.deviceCode, AuthorizeFixtures.tokens])
        let request = AuthorizeFixtures.outlook(out: "-", tokenURL: "https://login.microsoftonline.us/{tenant}/oauth2/v2.0/token")
        let (result, console) = await AuthorizeFixtures.run(request, transport: transport)
        try result.get()
        #expect(transport.sent.last?.url == "https://login.microsoftonline.us/organizations/oauth2/v2.0/token")
        let account = try #require(try AccountsConfigLoader.parse(console.document, source: "stdout").accounts.first)
        #expect(account.tokenURL == "https://login.microsoftonline.us/organizations/oauth2/v2.0/token")
    }

    static let consentFailures: [((Int, String), String)] = [
        ((400, #"{"error":"access_denied","error_description":"the user declined"}"#), "access_denied"),
        ((400, #"{"error":"expired_token"}"#), "expired"),
        ((400, #"{"error":"invalid_client","error_description":"AADSTS7000218"}"#), "invalid_client"),
    ]

    @Test(arguments: consentFailures)
    func aRefusedOrExpiredConsentExitsOneWithoutAFile(reply: (Int, String), mentioning: String) async throws {
        let directory = try AuthorizeFixtures.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let transport = AuthorizeScriptedTransport([AuthorizeFixtures.deviceCode, AuthorizeFixtures.pending, reply])
        let (result, _) = await AuthorizeFixtures.run(AuthorizeFixtures.outlook(out: directory + "/x.json"), transport: transport)
        guard case .failure(let failure) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.exitCode == 1)
        #expect(failure.message.contains(mentioning))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    static let badRequests: [(AuthorizeRequest, String)] = {
        var gmailWithoutSecret = AuthorizeFixtures.outlook(out: "-")
        gmailWithoutSecret.provider = .gmail
        return [
            (gmailWithoutSecret, "--client-secret"),
            (AuthorizeFixtures.outlook(out: "-", tokenURL: "http://tokens.example.com/token"), "--token-url"),
            (AuthorizeFixtures.outlook(out: "-", tokenURL: "not a url"), "--token-url"),
            (AuthorizeFixtures.outlook(out: "-", email: "no-at-sign"), "email"),
        ]
    }()

    @Test(arguments: badRequests)
    func mistakesAreCaughtBeforeAnyoneIsAskedToConsent(request: AuthorizeRequest, mentioning: String) async {
        let transport = AuthorizeScriptedTransport([AuthorizeFixtures.deviceCode, AuthorizeFixtures.tokens])
        let (result, _) = await AuthorizeFixtures.run(request, transport: transport)
        guard case .failure(let failure) = result else {
            Issue.record("expected a refusal")
            return
        }
        #expect(failure.exitCode == 2)
        #expect(failure.message.contains(mentioning), "\(failure.message)")
        #expect(transport.sent.isEmpty)
    }

    @Test func generatedPasswordsAreLongAlphanumericAndUnpredictable() {
        let passwords = (0..<1000).map { _ in AuthorizePassword.generate() }
        #expect(Set(passwords).count == passwords.count)
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        for password in passwords {
            #expect(password.count == 32)
            #expect(password.allSatisfy(allowed.contains))
        }
        // 32,000 draws from 62 symbols: every symbol appears (a biased or short alphabet would not).
        #expect(Set(passwords.joined()) == allowed)
        #expect(AuthorizePassword.entropyBits >= 190)
    }

    @Test func fileNamesAreValidSecretKeys() {
        #expect(AuthorizeAccountFile.defaultFileName(for: "Sales.Team@Contoso.com") == "sales.team_contoso.com.json")
        #expect(AuthorizeAccountFile.defaultFileName(for: ".hidden@x.org") == "hidden_x.org.json")
        #expect(AuthorizeAccountFile.kubectlLine(path: "/tmp/my file.json")
            == "kubectl create secret generic xoauth2-proxy-accounts --from-file=my_file.json='/tmp/my file.json'")
    }
}
