import Accounts
import AsyncHTTPClient
import Foundation
import OAuth2

/// What `authorize` was asked to do, after parsing.
struct AuthorizeRequest: Sendable {
    var provider: AuthorizeProvider
    var clientID: String
    var clientSecret: String?
    var tenant: String?
    var email: String
    var port: Int
    var redirectTimeout: Duration
    /// A path, or "-" for standard output.
    var out: String
    var force: Bool
    var authorizeURL: String?
    var deviceURL: String?
    var tokenURL: String?
}

/// Where `authorize` speaks. Status (instructions, the password, the kubectl line) and the
/// account document are separate streams so `--out -` can pipe the document alone.
struct AuthorizeConsole: Sendable {
    var status: @Sendable (String) -> Void
    var document: @Sendable (String) -> Void

    static func standard(documentOnStandardOutput: Bool) -> AuthorizeConsole {
        let toOut: @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
        let toErr: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        return AuthorizeConsole(status: documentOnStandardOutput ? toErr : toOut,
                                document: { FileHandle.standardOutput.write(Data($0.utf8)) })
    }
}

/// One run of `authorize`: check what can be checked before anyone is asked to consent, obtain
/// the refresh token, write the account file.
struct AuthorizeRun: Sendable {
    static let defaultRedirectTimeout: Duration = .seconds(600)
    static let defaultTenant = "organizations"
    static let outlookScope = "https://outlook.office.com/SMTP.Send offline_access"
    static let gmailScope = OAuth2Defaults.googleMailScope
    static let outlookDeviceURL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode"
    static let outlookTokenURL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    static let gmailAuthorizeURL = "https://accounts.google.com/o/oauth2/v2/auth"
    static let gmailTokenURL = OAuth2Defaults.googleTokenURL

    var request: AuthorizeRequest
    var console: AuthorizeConsole
    var transport: any TokenHTTPTransport = AsyncHTTPClientTransport(client: .shared)
    var now: @Sendable () -> ContinuousClock.Instant = { .now }
    var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    var generatePassword: @Sendable () -> String = { AuthorizePassword.generate() }
    /// The host named in the `ssh -L` hint; nil: this machine's name.
    var hostName: String? = nil

    func run() async throws {
        let tenant = request.provider == .outlook ? (request.tenant ?? Self.defaultTenant) : nil
        // Checked before the user is sent to a consent screen: a typo found afterwards costs a consent.
        try checkURL(request.tokenURL, option: "--token-url")
        try checkURL(request.deviceURL, option: "--device-url")
        try checkURL(request.authorizeURL, option: "--authorize-url")
        if request.provider == .gmail, request.clientSecret == nil {
            throw StartupFailure.configuration("--client-secret (or --client-secret-file) is required for --provider gmail")
        }
        var account = AuthorizeAccountFile(
            email: request.email, provider: request.provider, clientID: request.clientID, clientSecret: request.clientSecret,
            tenant: tenant, tokenURL: request.tokenURL.map { Self.substituting(tenant, in: $0) },
            refreshToken: "placeholder-refresh-token", password: "placeholder-password")
        do {
            try account.validate()
        } catch {
            throw StartupFailure.configuration("the account would not load: \(error.description)")
        }
        if request.out != "-", !request.force, FileManager.default.fileExists(atPath: request.out) {
            throw StartupFailure.configuration("\(request.out) exists; pass --force to replace it")
        }

        let tokens: ConsentTokens
        do {
            switch request.provider {
            case .outlook: tokens = try await deviceFlow(tenant: tenant ?? Self.defaultTenant)
            case .gmail: tokens = try await loopbackFlow()
            }
        } catch let failure as ConsentFailure {
            throw StartupFailure.runtime("authorization failed: \(failure)")
        }

        account.refreshToken = tokens.refreshToken
        account.password = generatePassword()
        do {
            try account.validate()
        } catch {
            throw StartupFailure.runtime("the provider's refresh token does not fit an account file: \(error.description)")
        }
        if request.out == "-" {
            console.document(account.json)
        } else {
            do {
                try AuthorizeAccountFile.write(account.json, to: request.out, force: request.force)
            } catch {
                throw StartupFailure.runtime("\(error.description)")
            }
            console.status("Wrote \(request.out) (mode 0600) for \(request.email).")
        }
        console.status("""
            SMTP password for \(request.email) (shown only here; the app logs in with the email and this password):
              \(account.password)
            \(request.out == "-" ? "Save the document on standard output as \(AuthorizeAccountFile.defaultFileName(for: request.email)), then load it into the cluster:" : "Load it into the cluster:")
              \(AuthorizeAccountFile.kubectlLine(path: request.out == "-" ? AuthorizeAccountFile.defaultFileName(for: request.email) : request.out))
            """)
    }

    private func deviceFlow(tenant: String) async throws -> ConsentTokens {
        let configuration = DeviceAuthorization.Configuration(
            deviceURL: Self.substituting(tenant, in: request.deviceURL ?? Self.outlookDeviceURL),
            tokenURL: Self.substituting(tenant, in: request.tokenURL ?? Self.outlookTokenURL),
            clientID: request.clientID, clientSecret: request.clientSecret, scope: Self.outlookScope)
        let flow = DeviceAuthorization(configuration: configuration, transport: transport, now: now, sleep: sleep)
        let console = self.console
        let email = request.email
        return try await flow.run { code in
            let minutes = max(1, code.expiresIn.components.seconds / 60)
            console.status("""
                Sign in as \(email) to approve sending mail through xoauth2-proxy:
                  \(code.message ?? "open \(code.verificationURI) and enter the code \(code.userCode)")
                  URL:  \(code.verificationURI)
                  code: \(code.userCode)
                Waiting for approval (the code expires in \(minutes) min)...
                """)
        }
    }

    private func loopbackFlow() async throws -> ConsentTokens {
        let listener: AuthorizeLoopbackListener
        do {
            listener = try await AuthorizeLoopbackListener.bind(port: request.port)
        } catch {
            throw StartupFailure.runtime("cannot listen on 127.0.0.1:\(request.port) for the redirect: \(error)")
        }
        let port = listener.port
        let authorization = LoopbackAuthorization(configuration: .init(
            authorizeURL: request.authorizeURL ?? Self.gmailAuthorizeURL, tokenURL: request.tokenURL ?? Self.gmailTokenURL,
            clientID: request.clientID, clientSecret: request.clientSecret, scope: Self.gmailScope,
            loginHint: request.email, redirectURI: LoopbackAuthorization.redirectURI(port: port)))
        console.status("""
            Open this URL in a browser and sign in as \(request.email):
              \(authorization.authorizationURL)
            The browser is sent back to http://127.0.0.1:\(port)/callback. If that browser runs on another machine, \
            first run there:
              ssh -L \(port):127.0.0.1:\(port) \(hostName ?? Self.localHostName())
            Waiting for the redirect (at most \(request.redirectTimeout.components.seconds) s)...
            """)
        let console = self.console
        let code = try await listener.waitForCode(authorization, timeout: request.redirectTimeout) { event in
            if case .refusedRedirect = event {
                console.status("Ignored a redirect whose state does not match this run (an old tab, or not from this request); still waiting.")
            }
        }
        console.status("Redirect received; exchanging the code.")
        return try await authorization.exchange(code: code, transport: transport)
    }

    private func checkURL(_ url: String?, option: String) throws {
        guard let url else { return }
        guard let components = URLComponents(string: url.replacingOccurrences(of: "{tenant}", with: "tenant")),
              let scheme = components.scheme?.lowercased(), let host = components.host, !host.isEmpty else {
            throw StartupFailure.configuration("\(option): \(url) is not an absolute URL")
        }
        // Codes, secrets and tokens travel to these URLs: https, or http only to this machine.
        guard scheme == "https" || (scheme == "http" && LoopbackHost.isLoopback(host)) else {
            throw StartupFailure.configuration("\(option): must be https (http only to a loopback host)")
        }
    }

    /// gethostname, not `ProcessInfo.hostName`, which may wait on DNS for a canonical name.
    static func localHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "THIS-HOST" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "THIS-HOST" : name
    }

    static func substituting(_ tenant: String?, in url: String) -> String {
        guard let tenant else { return url }
        return url.replacingOccurrences(of: "{tenant}", with: tenant)
    }
}
