import Accounts
import Logging
import NIOCore
import NIOPosix
import OAuth2
import Ops
import ServiceLifecycle

/// The proxy's composition root, and the one place its lifetime is managed: built from
/// settings by `start` (the same graph for `serve`, `demo` and the end-to-end tests; `check`
/// shares its upstream half, `ProxyUpstreams`), then run as a `Service`. `run` owns the SMTP
/// listener, the config reloader, systemd's watchdog and the admin server in one service group,
/// and shuts the token endpoints' HTTP client down and saves state when they have stopped.
///
/// Graceful shutdown (SIGTERM in the process's group) reaches the group's services in reverse
/// order: the listener first, so sessions drain while readiness already says 503 and reloads
/// and the watchdog go on; then the admin server, the watchdog, the reloader.
public final class ProxyRuntime: Service, Sendable {
    public let server: RelayServer
    public var tokens: TokenCache { upstreams.tokens }
    /// Where the admin server listens, when there is one (port 0 picks a free one).
    public var adminPort: Int? { admin?.port }
    private let upstreams: ProxyUpstreams
    private let admin: AdminServer?
    private let fleet: FleetRuntime?
    private let companions: Companions
    private let metrics: any RelayMetrics
    private let logger: Logger

    private init(server: RelayServer, upstreams: ProxyUpstreams, admin: AdminServer?, fleet: FleetRuntime?, companions: Companions,
                 metrics: any RelayMetrics, logger: Logger) {
        self.server = server
        self.fleet = fleet
        self.metrics = metrics
        self.upstreams = upstreams
        self.admin = admin
        self.companions = companions
        self.logger = logger
    }

    /// Opens the state directory, reads CA files, binds the listener and the admin server.
    /// Throws `ConfigError` for unusable files, socket errors for a taken SMTP port,
    /// `AdminListenError` for a taken admin port; nothing is left open when it throws. Once it
    /// returns, `run` must be called: it is what releases everything.
    public static func start(_ settings: Configuration, directory: AccountDirectory, companions: Companions = .init(),
                             group: any EventLoopGroup, logger: Logger) async throws -> ProxyRuntime {
        // A dry run must not spend the real fleet's quota on messages nobody receives.
        if settings.dryRun, settings.fleet != nil { logger.warning("dry run: --state-url is ignored") }
        let fleet = settings.dryRun ? nil : settings.fleet.map { FleetRuntime(settings: $0, logger: logger) }
        let configuration = {
            var configuration = settings
            // Without a fleet, what the caller put there stays (tests give a bridge of their own).
            configuration.resilience.fleetQuota = fleet?.quota ?? settings.resilience.fleetQuota
            configuration.resilience.fleetPushbacks = fleet?.pushbacks ?? settings.resilience.fleetPushbacks
            return configuration
        }()
        if let fleet {
            logger.notice("fleet mode: account limits are shared through the state database", metadata: [
                "state_url": "\(fleet.settings.url)", "replica": "\(fleet.database.configuration.replicaID)",
                "fleet_size_hint": "\(fleet.settings.fleetSizeHint)",
                "tokens_shared": "\(fleet.tokenStore != nil ? "yes" : "no (no --state-key-file)")",
            ])
            // Before the first message where it can be; `run` retries when the database is away.
            _ = await fleet.migrate()
        }
        let stateFiles = try await StateFiles.open(configuration.stateDirectory, directory: directory, logger: logger)
        // The token endpoint's timeout is the longest another replica's refresh can rightly take.
        let sharing = fleet?.tokenStore.map { TokenSharing(store: $0, maximumWait: configuration.tokenRequestTimeout) }
        let upstreams = ProxyUpstreams(configuration, refreshTokens: stateFiles?.refreshTokens, sharing: sharing, group: group, logger: logger)
        if configuration.dryRun {
            logger.notice("dry run: messages go to an in-process provider that accepts and drops them; no token is fetched")
        }
        do {
            // Reads CA and state files: off the event loop.
            let accounts = try await NIOThreadPool.singleton.runIfActive {
                try RelayAccounts(directory: directory, tls: UpstreamTLSContexts(), connector: upstreams.connector,
                                  resilience: configuration.resilience, refreshTokens: stateFiles?.refreshTokens,
                                  quotaCounters: stateFiles?.quotaCounters) { pool in
                    var pool = pool
                    pool.acquireTimeout = configuration.poolAcquireTimeout
                    pool.idleTimeout = configuration.upstreamIdleTimeout
                    pool.tokenExpirySafety = configuration.upstreamTokenExpirySafety
                    return pool
                }
            }
            fleet?.pushbacks.attach(accounts)
            let server = try await RelayServer.bind(configuration.server, accounts: accounts, group: group,
                                                    clock: configuration.resilience.clock, metrics: configuration.metrics,
                                                    logger: logger)
            var admin: AdminServer?
            if let endpoint = companions.admin {
                do {
                    admin = try await AdminServer.bind(host: endpoint.host, port: endpoint.port, group: group,
                                                       status: RelayStatus(server: server, metrics: configuration.metrics, fleet: fleet),
                                                       metrics: endpoint.metrics, logger: logger)
                } catch {
                    await server.close()
                    await accounts.close()
                    throw AdminListenError(host: endpoint.host, port: endpoint.port, underlying: error)
                }
            }
            return ProxyRuntime(server: server, upstreams: upstreams, admin: admin, fleet: fleet, companions: companions,
                                metrics: configuration.metrics, logger: logger)
        } catch {
            await upstreams.shutdown()
            throw error
        }
    }

    public func run() async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // First, so it stops last: leases go back once no session can take more.
        if let fleet { services.append(.init(service: fleet)) }
        let notifier = companions.notifier
        let metrics = metrics
        if let reload = companions.reload {
            var hooks = ConfigReloadService.Hooks()
            hooks.willReload = { notifier?.reloading() }
            hooks.didReload = { outcome in
                notifier?.ready()
                if case .invalid = outcome { metrics.configReloaded(.invalid) } else { metrics.configReloaded(.ok) }
            }
            services.append(.init(service: ConfigReloadService(sources: reload.sources, loaded: reload.loaded, runtime: self,
                                                               configuration: reload.configuration, hooks: hooks, logger: logger)))
        }
        if let notifier, notifier.watchdogInterval != nil {
            services.append(.init(service: SystemdWatchdogService(notifier: notifier)))
        }
        if let admin { services.append(.init(service: admin)) }
        // Last, so it stops first.
        services.append(.init(service: server))
        if let notifier {
            server.onShutdown { notifier.stopping() }
            notifier.ready()
        }
        do {
            try await ServiceGroup(configuration: .init(services: services, logger: logger)).run()
        } catch {
            await release()
            throw error
        }
        await release()
    }

    /// After every service stopped: the day's counts saved, the HTTP client's connections closed.
    private func release() async {
        await persistState()
        await upstreams.shutdown()
    }

    /// Applies a new set of accounts while serving: validated whole first (a bad CA file
    /// changes nothing), then swapped; pools of changed or removed accounts retire in the
    /// background.
    public func reload(_ directory: AccountDirectory) async throws -> AccountChanges {
        let accounts = server.accounts
        let (changes, retired) = try await NIOThreadPool.singleton.runIfActive { try accounts.replace(with: directory) }
        for pool in retired { Task { await pool.retire() } }
        return changes
    }

    /// Writes what `--state-dir` keeps (daily counts) now; also done every 30 s and at shutdown.
    public func persistState() async {
        await server.accounts.persistCounters()
    }
}
