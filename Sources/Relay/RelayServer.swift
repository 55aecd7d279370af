import Accounts
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Ops
import Resilience
import ServiceLifecycle
import SMTPCore
import SMTPNIO
import Sockets

/// The SMTP listener apps talk to, as a `Service`: bound up front (so a taken port fails at
/// start-up, and tests learn the port), serving until graceful shutdown.
public final class RelayServer: Service, Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 2525
        public var idleTimeout: TimeAmount = .minutes(5)
        public var session = RelaySessionConfiguration()
        public var sweepInterval: Duration = .seconds(30)
        /// Client connections served at once; the next ones hear 421 4.3.2 and are closed.
        public var maxConnections = 10_000
        /// After shutdown begins, transactions in flight get this long to finish.
        public var shutdownGrace: Duration = .seconds(25)
        /// Failed logins across connections, per login name and per client address.
        public var loginFailures = LoginFailureBudget.Configuration()
        public init() {}
    }

    public let configuration: Configuration
    public let accounts: RelayAccounts
    private let listener: SMTPListener
    private let logger: Logger
    private let sessions = SessionRegistry()
    private let loginFailures: LoginFailureBudget
    private let shutdownHooks = NIOLockedValueBox<[@Sendable () -> Void]>([])

    public var port: Int { listener.port }
    /// Client sessions open now.
    public var activeSessions: Int { sessions.active }
    /// True from the moment shutdown begins: readiness should fail.
    public var isDraining: Bool { sessions.isDraining }

    private init(configuration: Configuration, accounts: RelayAccounts, listener: SMTPListener, clock: ResilienceClock, logger: Logger) {
        self.loginFailures = LoginFailureBudget(configuration: configuration.loginFailures, clock: clock)
        self.configuration = configuration
        self.accounts = accounts
        self.listener = listener
        self.logger = logger
    }

    /// The client address failed logins are counted by, or nil for loopback: every sidecar
    /// client comes from there, and one misconfigured app would lock out every account.
    static func failureBudgetAddress(_ address: SocketAddress?) -> String? {
        guard let ip = address?.ipAddress, !LoopbackHost.isLoopback(ip) else { return nil }
        return ip
    }

    public static func bind(_ configuration: Configuration, accounts: RelayAccounts, group: any EventLoopGroup,
                            clock: ResilienceClock = .system, logger: Logger) async throws -> RelayServer {
        let listener = try await SMTPListener.bind(
            SMTPListener.Configuration(host: configuration.host, port: configuration.port, idleTimeout: configuration.idleTimeout),
            group: group)
        return RelayServer(configuration: configuration, accounts: accounts, listener: listener, clock: clock, logger: logger)
    }

    public func run() async throws {
        logger.info("SMTP listener ready", metadata: ["address": "\(ListenAddress.describe(listener.localAddress))", "dry_run": "\(configuration.session.dryRun)"])
        let accounts = accounts
        let sessionConfiguration = configuration.session
        let logger = logger
        let sessions = sessions
        let loginFailures = loginFailures
        let maxConnections = configuration.maxConnections
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { [configuration] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: configuration.sweepInterval)
                        accounts.sweep()
                        await accounts.persistCounters()
                    }
                }
                try await listener.run { connection in
                    guard let sessionID = sessions.register(connection.channel, limit: maxConnections) else {
                        await Self.refuse(connection, logger: logger, limit: maxConnections, draining: sessions.isDraining)
                        return
                    }
                    ProxyMetrics.clientSessionOpened()
                    defer {
                        sessions.unregister(sessionID)
                        ProxyMetrics.clientSessionClosed()
                    }
                    var sessionLogger = logger
                    sessionLogger[metadataKey: "session"] = "\(SessionID.next())"
                    if let remote = connection.channel.remoteAddress {
                        sessionLogger[metadataKey: "client"] = "\(remote.ipAddress ?? "?"):\(remote.port ?? 0)"
                    }
                    var session = RelaySession(accounts: accounts, configuration: sessionConfiguration, logger: sessionLogger,
                                               drain: SessionDrain(registry: sessions, id: sessionID),
                                               loginFailures: loginFailures,
                                               clientAddress: Self.failureBudgetAddress(connection.channel.remoteAddress))
                    await session.run(connection)
                }
                group.cancelAll()
            }
        } onGracefulShutdown: { [self] in
            beginShutdown()
        }
        await accounts.close()
        logger.info("SMTP listener stopped")
    }

    public func close() async {
        await listener.close()
    }

    /// Stops taking connections, says goodbye to idle sessions now and to the others as their
    /// transactions end, and cuts what is left after `shutdownGrace`. `run` returns when the
    /// last session is gone.
    public func beginShutdown() {
        for hook in shutdownHooks.withLockedValue({ $0 }) { hook() }
        logger.info("SMTP listener closing; draining sessions", metadata: [
            "sessions": "\(sessions.active)", "grace_s": "\(configuration.shutdownGrace.components.seconds)",
        ])
        sessions.drain()
        let listener = listener
        let sessions = sessions
        let grace = configuration.shutdownGrace
        let logger = logger
        Task {
            await listener.close()
            try? await Task.sleep(for: grace)
            let left = sessions.active
            if left > 0 {
                logger.warning("shutdown grace over; closing the sessions left", metadata: ["sessions": "\(left)"])
                sessions.closeAll()
            }
        }
    }

    /// Runs when shutdown begins (readiness, sd_notify STOPPING=1).
    public func onShutdown(_ hook: @escaping @Sendable () -> Void) {
        shutdownHooks.withLockedValue { $0.append(hook) }
    }

    static let tooManyConnections = SMTPReply(421, "4.3.2", "Too many connections, try again later")

    /// Refusing costs a write and a close, so a connection flood cannot exhaust memory.
    private static func refuse(_ connection: SMTPServerConnection, logger: Logger, limit: Int, draining: Bool) async {
        if draining {
            logger.info("client connection refused: shutting down")
        } else {
            logger.warning("client connection refused: connection limit reached", metadata: ["max_connections": "\(limit)"])
        }
        try? await connection.executeThenClose { _, outbound in
            try await outbound.write(draining ? SessionRegistry.goodbye : tooManyConnections)
        }
    }
}

/// A session's line to the registry.
struct SessionDrain: Sendable {
    let registry: SessionRegistry
    let id: UInt64

    /// Reports whether the session is between transactions; true means say goodbye now.
    func update(betweenTransactions: Bool) -> Bool {
        registry.update(id, betweenTransactions: betweenTransactions)
    }
}

/// Short random session ids for log correlation.
enum SessionID {
    static func next() -> String {
        String(UInt64.random(in: 0..<(1 << 40)), radix: 36)
    }
}
