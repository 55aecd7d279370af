import Accounts
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Relay
import Sandbox
import SMTPCore
import ServiceLifecycle
import SMTPNIO
import TestSupport

/// Starts a `RelayHarness`, runs `body` with it, and always stops it, also when `body` throws
/// or the test is cancelled: clients it handed out are closed, both servers and their tasks
/// end, and the work directory goes. The only way tests get a harness.
func withRelayHarness<T>(accounts count: Int = 1,
                         tokenLifetime: Duration = .seconds(3600),
                         configure: (inout ProxyRuntime.Configuration) -> Void = { _ in },
                         maxConnections: Int = 5,
                         limits: AccountLimits? = nil,
                         smtpPort: Int? = nil,
                         upstreamTLS: SMTPTLSMode = .starttls,
                         messagesInMemory: Int = 10_000,
                         companions: ProxyRuntime.Companions = .init(),
                         _ body: (RelayHarness) async throws -> T) async throws -> T {
    try await withTeardown(
        setUp: {
            try await RelayHarness.start(accounts: count, tokenLifetime: tokenLifetime, configure: configure,
                                         maxConnections: maxConnections, limits: limits, smtpPort: smtpPort,
                                         upstreamTLS: upstreamTLS, messagesInMemory: messagesInMemory, companions: companions)
        },
        tearDown: { await $0.stop() },
        body)
}

/// The proxy wired exactly as `serve` wires it, in front of a sandbox provider, on loopback.
final class RelayHarness: Sendable {
    struct TestAccount: Sendable {
        var email: String
        var password: String
        var refreshToken: String
    }

    let sandbox: SandboxProvider
    let runtime: ProxyRuntime
    let accounts: [TestAccount]
    /// What the runtime was started with, to start another against the same sandbox.
    let directory: AccountDirectory
    let settings: ProxyRuntime.Configuration
    let workDirectory: String
    private let sandboxTask: Task<Void, any Error>
    private let running: RunningRuntime
    /// Every client handed out, closed at `stop` so that a test that failed half-way cannot
    /// keep a session (and with it `run`) alive.
    private let clients = NIOLockedValueBox<[TestSMTPClient]>([])

    var port: Int { runtime.server.port }
    var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }
    var group: any EventLoopGroup { MultiThreadedEventLoopGroup.singleton }

    private init(sandbox: SandboxProvider, runtime: ProxyRuntime, accounts: [TestAccount], directory: AccountDirectory,
                 settings: ProxyRuntime.Configuration, workDirectory: String, sandboxTask: Task<Void, any Error>, running: RunningRuntime) {
        self.directory = directory
        self.settings = settings
        self.sandbox = sandbox
        self.runtime = runtime
        self.accounts = accounts
        self.workDirectory = workDirectory
        self.sandboxTask = sandboxTask
        self.running = running
    }

    /// `upstreamTLS: .none` for tests about something else than the upstream's TLS that open many
    /// upstream connections or bound their set-up tightly: a debug build's TLS handshakes are what
    /// a loaded machine runs slowest.
    fileprivate static func start(accounts count: Int, tokenLifetime: Duration,
                                  configure: (inout ProxyRuntime.Configuration) -> Void, maxConnections: Int,
                                  limits: AccountLimits?, smtpPort: Int?, upstreamTLS: SMTPTLSMode,
                                  messagesInMemory: Int, companions: ProxyRuntime.Companions) async throws -> RelayHarness {
        let group = MultiThreadedEventLoopGroup.singleton
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var sandboxSettings = SandboxProvider.Configuration()
        sandboxSettings.tokenLifetime = tokenLifetime
        sandboxSettings.messagesInMemory = messagesInMemory
        sandboxSettings.requireTLS = upstreamTLS != .none
        let sandbox = try await SandboxProvider.start(sandboxSettings, group: group, logger: logger)
        let sandboxTask = Task { try await sandbox.run() }
        let workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-test-\(UUID().uuidString)").path
        do {
            return try await start(sandbox: sandbox, sandboxTask: sandboxTask, workDirectory: workDirectory, accounts: count,
                                   configure: configure, maxConnections: maxConnections, limits: limits, smtpPort: smtpPort,
                                   upstreamTLS: upstreamTLS, companions: companions, logger: logger)
        } catch {
            await sandbox.close()
            _ = await sandboxTask.result
            try? FileManager.default.removeItem(atPath: workDirectory)
            throw error
        }
    }

    private static func start(sandbox: SandboxProvider, sandboxTask: Task<Void, any Error>, workDirectory: String,
                              accounts count: Int, configure: (inout ProxyRuntime.Configuration) -> Void,
                              maxConnections: Int, limits: AccountLimits?, smtpPort: Int?, upstreamTLS: SMTPTLSMode,
                              companions: ProxyRuntime.Companions, logger: Logger) async throws -> RelayHarness {
        let group = MultiThreadedEventLoopGroup.singleton
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        let caFile = try sandbox.writeCertificate(toDirectory: workDirectory)
        var testAccounts: [TestAccount] = []
        var accounts: [Account] = []
        for index in 0..<count {
            let email = "user\(index)@example.com"
            let secret = "secret-\(index)-\(UUID().uuidString)"
            let refresh = "refresh-\(index)-\(UUID().uuidString)"
            let password = "pw-\(index)-\(UUID().uuidString)"
            sandbox.issuer.register(email: email, clientID: "client-\(index)", clientSecret: secret, refreshToken: refresh)
            accounts.append(Account(
                accountID: "acct\(index)", email: email, provider: .custom, clientID: "client-\(index)", clientSecret: secret,
                refreshToken: refresh, password: password, tokenURL: sandbox.tokenURL, smtpHost: "127.0.0.1",
                smtpPort: smtpPort ?? sandbox.smtpPort, smtpTLS: upstreamTLS, tlsCAFile: caFile, maxConnections: maxConnections,
                limits: limits))
            testAccounts.append(TestAccount(email: email, password: password, refreshToken: refresh))
        }
        var settings = ProxyRuntime.Configuration()
        settings.server.port = 0
        settings.poolAcquireTimeout = .seconds(10)
        configure(&settings)
        let directory = try AccountDirectory(accounts: accounts)
        let runtime = try await ProxyRuntime.start(settings, directory: directory, companions: companions, group: group, logger: logger)
        return RelayHarness(sandbox: sandbox, runtime: runtime, accounts: testAccounts, directory: directory, settings: settings,
                            workDirectory: workDirectory, sandboxTask: sandboxTask, running: RunningRuntime(runtime, logger: logger))
    }

    /// SIGTERM's path: the runtime's service group begins its graceful shutdown.
    func beginShutdown() async {
        await running.beginShutdown()
    }

    /// SIGTERM's path to its end: the proxy has released everything (the sandbox runs on).
    func stopProxy() async {
        await running.beginShutdown()
        await running.stopped()
    }

    fileprivate func stop() async {
        for client in clients.withLockedValue({ $0 }) { client.connection.close() }
        await running.beginShutdown()
        await sandbox.close()
        await running.stopped()
        _ = await sandboxTask.result
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    /// A second proxy started as this one was (same accounts, settings and state directory), as
    /// after a restart; `body` gets a client logged in to it as account 0. The second proxy is
    /// always stopped, also when `body` throws.
    func withRestartedProxy<T>(_ body: (TestSMTPClient) async throws -> T) async throws -> T {
        var settings = settings
        settings.server.port = 0
        let restarted = try await ProxyRuntime.start(settings, directory: directory, group: group, logger: logger)
        let running = RunningRuntime(restarted, logger: logger)
        let opened = NIOLockedValueBox<TestSMTPClient?>(nil)
        return try await withTeardown(
            setUp: { restarted },
            tearDown: { restarted in
                opened.withLockedValue { $0 }?.connection.close()
                await running.beginShutdown()
                await running.stopped()
            }
        ) { restarted in
            let client = try await self.client(port: restarted.server.port)
            opened.withLockedValue { $0 = client }
            let result = try await body(client)
            await client.quit()
            return result
        }
    }

    /// A plain SMTP client to the proxy, logged in as account `index`.
    func client(account index: Int = 0, login: Bool = true) async throws -> TestSMTPClient {
        try await client(port: port, account: index, login: login)
    }

    /// Like `client(account:login:)`, to another proxy started by the test (closed at `stop` too).
    func client(port: Int, account index: Int = 0, login: Bool = true) async throws -> TestSMTPClient {
        let client = try await TestSMTPClient.connect(port: port, group: group)
        clients.withLockedValue { $0.append(client) }
        if login {
            let account = accounts[index]
            let reply = try await client.login(account.email, account.password)
            guard reply.code == 235 else {
                await client.quit()
                throw TestFailure("login failed: \(reply)")
            }
        }
        return client
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// An SMTP client for tests: our client connection in plaintext mode, plus conveniences.
struct TestSMTPClient: Sendable {
    let connection: SMTPClientConnection

    static func connect(port: Int, group: any EventLoopGroup) async throws -> TestSMTPClient {
        var timeouts = SMTPClientConnection.Timeouts()
        // Guards against a hang, not measurements: a working proxy answers at once.
        timeouts.command = .seconds(60)
        timeouts.dataEnd = .seconds(60)
        let connection = try await SMTPClientConnection.connect(
            .init(host: "127.0.0.1", port: port, tls: .none, heloName: "test.client", timeouts: timeouts), group: group)
        return TestSMTPClient(connection: connection)
    }

    func command(_ line: String) async throws -> SMTPReply {
        try await connection.send(line, step: "test").get()
    }

    func login(_ user: String, _ password: String) async throws -> SMTPReply {
        try await command("AUTH PLAIN " + SASL.encodeBase64("\0\(user)\0\(password)"))
    }

    /// Sends one message; returns every reply from MAIL to end of data (pipelined as a real
    /// client does: MAIL and RCPTs in one write, then DATA).
    func send(from: String = "sender@example.com", to recipients: [String], message: String) async throws -> [SMTPReply] {
        var futures = [connection.send("MAIL FROM:<\(from)>", step: "MAIL", flush: false)]
        for recipient in recipients {
            futures.append(connection.send("RCPT TO:<\(recipient)>", step: "RCPT", flush: false))
        }
        futures.append(connection.send("DATA", step: "DATA", flush: true))
        var replies: [SMTPReply] = []
        for future in futures { replies.append(try await future.get()) }
        guard replies.last?.code == 354 else { return replies }
        try await connection.sendBody(ByteBuffer(bytes: DotStuffing.stuff(Array(message.utf8))))
        replies.append(try await command("."))
        return replies
    }

    func quit() async {
        await connection.quit()
    }
}

/// A runtime run as `serve` runs it, in a service group; stopping it is SIGTERM's path
/// (graceful shutdown: the listener stops, sessions drain, then everything is released).
struct RunningRuntime: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    init(_ runtime: ProxyRuntime, logger: Logger) {
        let group = ServiceGroup(configuration: .init(services: [runtime], logger: logger))
        self.group = group
        task = Task { try await group.run() }
    }

    func beginShutdown() async {
        await group.triggerGracefulShutdown()
    }

    func stopped() async {
        _ = await task.result
    }
}

extension RelayHarness {
    /// `count` more proxies started as this one was (same accounts, settings and sandbox): a
    /// fleet's other replicas. `body` gets their SMTP ports; they are always stopped after,
    /// through graceful shutdown as SIGTERM would.
    func withReplicas<T>(_ count: Int, _ body: ([Int]) async throws -> T) async throws -> T {
        var settings = settings
        settings.server.port = 0
        var started: [(ProxyRuntime, RunningRuntime)] = []
        do {
            for _ in 0..<count {
                let runtime = try await ProxyRuntime.start(settings, directory: directory, group: group, logger: logger)
                started.append((runtime, RunningRuntime(runtime, logger: logger)))
            }
        } catch {
            for (_, running) in started { await running.beginShutdown(); await running.stopped() }
            throw error
        }
        let replicas = started
        return try await withTeardown(setUp: { replicas.map { $0.0.server.port } }, tearDown: { _ in
            for (_, running) in replicas { await running.beginShutdown() }
            for (_, running) in replicas { await running.stopped() }
        }, body)
    }
}
