import Accounts
import ArgumentParser
import Foundation
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

    @OptionGroup var logging: LoggingOptions

    static let email = "demo@example.com"
    static let password = "demo-password"

    func run() async throws {
        guard (0...65535).contains(port) else { throw StartupFailure.configuration("--port: \(port) is not a port number (0-65535)") }
        let logger = logging.bootstrap()
        var sandboxSettings = SandboxProvider.Configuration()
        sandboxSettings.storeDirectory = store
        let sandbox = try await SandboxProvider.start(sandboxSettings, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        // Fresh credentials every run: the demo never ships a secret, not even a fake one.
        let clientSecret = RandomText.token(24)
        let refreshToken = RandomText.token(32)
        sandbox.issuer.register(email: Self.email, clientID: "demo-client", clientSecret: clientSecret, refreshToken: refreshToken)
        let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("xoauth2-proxy-demo-\(getpid())").path
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let caFile = try sandbox.writeCertificate(toDirectory: stateDirectory)
        let account = Account(
            accountID: "demo", email: Self.email, provider: .custom, clientID: "demo-client", clientSecret: clientSecret,
            refreshToken: refreshToken, password: Self.password, tokenURL: sandbox.tokenURL,
            smtpHost: "127.0.0.1", smtpPort: sandbox.smtpPort, smtpTLS: .starttls, tlsCAFile: caFile, maxConnections: 5)
        let directory = try AccountDirectory(accounts: [account])
        var settings = ProxyRuntime.Configuration()
        settings.server.host = host
        settings.server.port = port
        let runtime = try await startRuntime(settings, directory: directory, logger: logger)
        printInstructions(proxyPort: runtime.server.port, sandbox: sandbox)
        try await ServiceRunner.run([sandbox, runtime.server], logger: logger)
        await runtime.shutdown()
    }

    private func printInstructions(proxyPort: Int, sandbox: SandboxProvider) {
        let storePath = URL(fileURLWithPath: store).standardizedFileURL.path
        let text = """

            xoauth2-proxy demo is running.
              proxy (what your app talks to):  smtp://\(host):\(proxyPort)   user \(Self.email)   password \(Self.password)
              sandbox provider:                 SMTP 127.0.0.1:\(sandbox.smtpPort) (STARTTLS + XOAUTH2), tokens at \(sandbox.tokenURL)

            Send a message through it (either command):
              swaks --server \(host):\(proxyPort) --auth PLAIN --auth-user \(Self.email) --auth-password \(Self.password) --from \(Self.email) --to someone@example.net
              python3 -c "import smtplib; s = smtplib.SMTP('\(host)', \(proxyPort)); s.login('\(Self.email)', '\(Self.password)'); s.sendmail('\(Self.email)', ['someone@example.net'], 'Subject: hello\\r\\n\\r\\nIt works.\\r\\n'); s.quit()"

            Accepted messages land in \(storePath)/ (NNNNNN.eml with NNNNNN.json beside it). Ctrl-C stops.

            """
        FileHandle.standardError.write(Data(text.utf8))
    }
}

enum RandomText {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    static func token(_ length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }
}
