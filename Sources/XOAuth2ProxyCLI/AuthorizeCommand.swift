import ArgumentParser
import Foundation

struct AuthorizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authorize",
        abstract: "Obtain a refresh token for one mailbox (first consent, headless) and write its account file.",
        discussion: """
            outlook: device code flow: open the printed URL on any device and enter the code.
            gmail: loopback redirect with PKCE: open the printed URL in a browser on this machine, \
            or on your own after running the printed `ssh -L` line.
            The account file (mode 0600) holds the refresh token and a newly generated SMTP password \
            for the app, printed once; load it with the printed `kubectl create secret` line. \
            Tokens are never printed to the terminal.
            """)

    @Option(help: "outlook (Microsoft 365, device code flow) or gmail (Google, loopback redirect with PKCE).")
    var provider: AuthorizeProvider

    @Option(help: "OAuth client (application) id.")
    var clientID: String

    @Option(help: "OAuth client secret (required for gmail; outlook public clients have none). Prefer --client-secret-file: the command line is visible to other users.")
    var clientSecret: String?

    @Option(help: "File holding the client secret (one trailing newline is dropped).")
    var clientSecretFile: String?

    @Option(help: "Microsoft tenant (id or domain) for outlook; default organizations.")
    var tenant: String?

    @Option(help: "The mailbox; also the SMTP user name the app logs in with.")
    var email: String

    @Option(help: "gmail: loopback port for the redirect (0 picks a free one).")
    var port = 0

    @Option(help: "gmail: seconds to wait for the browser's redirect.")
    var timeout = Int(AuthorizeRun.defaultRedirectTimeout.components.seconds)

    @Option(help: "Where to write the account file; - writes it to standard output (status then goes to standard error). Default: the email with @ as _, plus .json.")
    var out: String?

    @Flag(help: "Replace an existing account file.")
    var force = false

    @Option(help: "gmail: authorization endpoint (default https://accounts.google.com/o/oauth2/v2/auth).")
    var authorizeURL: String?

    @Option(help: "outlook: device authorization endpoint (default https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode).")
    var deviceURL: String?

    @Option(help: "Token endpoint (default per provider; {tenant} is substituted). Written to the account file when given.")
    var tokenURL: String?

    func validate() throws {
        if provider == .outlook, authorizeURL != nil { throw ValidationError("--authorize-url: only for --provider gmail (outlook uses the device code flow)") }
        if provider == .gmail, deviceURL != nil { throw ValidationError("--device-url: only for --provider outlook (Google's device flow does not allow the mail scope)") }
        if provider == .gmail, tenant != nil { throw ValidationError("--tenant: only for --provider outlook") }
        if !(0...65535).contains(port) { throw ValidationError("--port: \(port) is not a port number (0-65535)") }
        if timeout < 1 { throw ValidationError("--timeout: must be at least 1 second") }
        if clientSecret != nil, clientSecretFile != nil { throw ValidationError("--client-secret and --client-secret-file: give one") }
    }

    func run() async throws {
        let secret = try clientSecretFile.map(Self.readSecret) ?? clientSecret
        let request = AuthorizeRequest(
            provider: provider, clientID: clientID, clientSecret: secret, tenant: tenant, email: email,
            port: port, redirectTimeout: .seconds(timeout), out: out ?? AuthorizeAccountFile.defaultFileName(for: email),
            force: force, authorizeURL: authorizeURL, deviceURL: deviceURL, tokenURL: tokenURL)
        try await AuthorizeRun(request: request, console: .standard(documentOnStandardOutput: request.out == "-")).run()
    }

    static func readSecret(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), var text = String(data: data, encoding: .utf8) else {
            throw StartupFailure.configuration("--client-secret-file: cannot read \(path)")
        }
        // "\r\n" is one Character in Swift, so it is removed whole.
        if text.hasSuffix("\r\n") || text.hasSuffix("\n") { text.removeLast() }
        guard !text.isEmpty else { throw StartupFailure.configuration("--client-secret-file: \(path) is empty") }
        return text
    }
}

enum AuthorizeProvider: String, ExpressibleByArgument, CaseIterable, Sendable {
    case outlook, gmail
}
