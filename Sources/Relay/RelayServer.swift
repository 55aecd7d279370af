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
        /// TLS for apps: STARTTLS on `port`, and implicit TLS on `tls.implicitPort` when set.
        public var tls: TLS?
        /// Accept AUTH before TLS on a listener that is not loopback (`--allow-plaintext-auth`).
        /// Without it such a listener needs `tls`, and AUTH is offered only after STARTTLS.
        public var allowPlaintextAuth = false
        public init() {}

        public struct TLS: Sendable {
            /// The certificate chain and key, re-read when they change.
            public var files: ServerTLSFiles
            /// The implicit TLS ("port 465") listener's port, on `host`; nil: none; 0 picks one.
            public var implicitPort: Int?
            /// A client that has not finished the TLS handshake by then is disconnected.
            public var handshakeTimeout: TimeAmount = .seconds(30)
            public var reload = ServerTLSReloader.Configuration()

            public init(files: ServerTLSFiles, implicitPort: Int? = nil) {
                self.files = files
                self.implicitPort = implicitPort
            }
        }
    }

    /// A bound listening socket and the session settings its connections get.
    struct BoundListener: Sendable {
        enum Kind: String, Sendable { case plain, startTLS = "starttls", implicitTLS = "implicit" }
        let listener: SMTPListener
        let kind: Kind
        let session: RelaySessionConfiguration
    }

    public let configuration: Configuration
    public let accounts: RelayAccounts
    /// The STARTTLS (or plaintext) listener first, then the implicit TLS one if any.
    private let listeners: [BoundListener]
    /// Re-reads the certificate while serving; nil without TLS.
    public let certificates: ServerTLSReloader?
    private let logger: Logger
    private let sessions: SessionRegistry
    private let shutdownHooks = NIOLockedValueBox<[@Sendable () -> Void]>([])

    public var port: Int { listeners[0].listener.port }
    /// The implicit TLS listener's port, when there is one.
    public var tlsPort: Int? { listeners.first { $0.kind == .implicitTLS }?.listener.port }
    /// Client sessions open now.
    public var activeSessions: Int { sessions.active }
    /// True from the moment shutdown begins: readiness should fail.
    public var isDraining: Bool { sessions.isDraining }

    private init(configuration: Configuration, accounts: RelayAccounts, listeners: [BoundListener], certificates: ServerTLSReloader?,
                 sessions: SessionRegistry, logger: Logger) {
        self.sessions = sessions
        self.configuration = configuration
        self.accounts = accounts
        self.listeners = listeners
        self.certificates = certificates
        self.logger = logger
    }

    /// The client address failed logins are counted by, or nil for loopback: every sidecar
    /// client comes from there, and one misconfigured app would lock out every account.
    static func failureBudgetAddress(_ address: SocketAddress?) -> String? {
        guard let ip = address?.ipAddress, !LoopbackHost.isLoopback(ip) else { return nil }
        return ip
    }

    public static func bind(_ configuration: Configuration, accounts: RelayAccounts, group: any EventLoopGroup,
                            clock: ResilienceClock = .system, metrics: any RelayMetrics,
                            logger: Logger) async throws -> RelayServer {
        var certificates: ServerTLSReloader?
        if let tls = configuration.tls {
            certificates = try await ServerTLSReloader.load(tls.files, handshakeTimeout: tls.handshakeTimeout,
                                                            configuration: tls.reload, logger: logger)
        }
        let sessions = SessionRegistry()
        let loginFailures = LoginFailureBudget(configuration: configuration.loginFailures, clock: clock)
        func installer() -> RelaySessionInstaller {
            RelaySessionInstaller(accounts: accounts, sessions: sessions, loginFailures: loginFailures, metrics: metrics,
                                  logger: logger, maxConnections: configuration.maxConnections)
        }
        let plainInstaller = installer()
        let listener = try await SMTPListener.bind(
            SMTPListener.Configuration(host: configuration.host, port: configuration.port, idleTimeout: configuration.idleTimeout,
                                       startTLS: certificates?.tls.startTLS),
            group: group, sessionHandlers: plainInstaller.install)
        var bound: [BoundListener] = []
        do {
            // What the socket is bound to decides, not how the host was spelt: `::` and
            // `0.0.0.0` take connections from the network.
            let isLoopback = listener.localAddress?.ipAddress.map(LoopbackHost.isLoopback) ?? false
            let authRequiresTLS = !isLoopback && !configuration.allowPlaintextAuth
            if authRequiresTLS, certificates == nil {
                throw ConfigError(source: "--host", message: """
                    \(ListenAddress.describe(listener.localAddress)) is not a loopback address, and AUTH is refused there \
                    before TLS: give --tls-cert and --tls-key (apps then use STARTTLS, or implicit TLS on --tls-port), \
                    or --allow-plaintext-auth to let passwords cross the network in clear
                    """)
            }
            var session = configuration.session
            session.stateMachine.tls = certificates == nil ? .none : .startTLS
            session.stateMachine.authRequiresTLS = authRequiresTLS
            bound.append(BoundListener(listener: listener, kind: certificates == nil ? .plain : .startTLS, session: session))
            plainInstaller.sessionConfiguration.withLockedValue { [session] in $0 = session }
            if let certificates, let implicitPort = configuration.tls?.implicitPort {
                let implicitInstaller = installer()
                let implicit = try await SMTPListener.bind(
                    SMTPListener.Configuration(host: configuration.host, port: implicitPort, idleTimeout: configuration.idleTimeout,
                                               implicitTLS: certificates.tls),
                    group: group, sessionHandlers: implicitInstaller.install)
                session.stateMachine.tls = .implicit
                implicitInstaller.sessionConfiguration.withLockedValue { [session] in $0 = session }
                bound.append(BoundListener(listener: implicit, kind: .implicitTLS, session: session))
            }
        } catch {
            for listener in [listener] + bound.dropFirst().map(\.listener) { await listener.close() }
            throw error
        }
        return RelayServer(configuration: configuration, accounts: accounts, listeners: bound, certificates: certificates,
                           sessions: sessions, logger: logger)
    }

    public func run() async throws {
        for bound in listeners {
            var metadata: Logger.Metadata = [
                "address": "\(ListenAddress.describe(bound.listener.localAddress))",
                "tls": "\(bound.kind.rawValue)",
            ]
            if bound.kind != .implicitTLS {
                metadata["auth"] = bound.session.stateMachine.authRequiresTLS ? "after STARTTLS only" : "offered without TLS"
            }
            logger.info(bound.kind == .implicitTLS ? "SMTP TLS listener ready" : "SMTP listener ready", metadata: metadata)
        }
        let accounts = accounts
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { [configuration] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: configuration.sweepInterval)
                        accounts.sweep()
                        await accounts.persistCounters()
                    }
                }
                if let certificates {
                    group.addTask { await certificates.run() }
                }
                try await withThrowingDiscardingTaskGroup { serving in
                    for bound in listeners {
                        serving.addTask { try await bound.listener.run() }
                    }
                }
                // The sessions are channel handlers; the listeners' end is not theirs.
                await sessions.waitUntilEmpty()
                group.cancelAll()
            }
        } onGracefulShutdown: { [self] in
            beginShutdown()
        }
        await accounts.close()
        logger.info("SMTP listener stopped")
    }

    public func close() async {
        for bound in listeners { await bound.listener.close() }
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
        let listeners = listeners.map(\.listener)
        let sessions = sessions
        let grace = configuration.shutdownGrace
        let logger = logger
        Task {
            for listener in listeners { await listener.close() }
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
