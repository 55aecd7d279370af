import FleetState
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// How a replica joins a fleet (`--state-url`).
public struct FleetSettings: Sendable {
    /// The database, its replica ID (unique per process) and its bounds: `operationTimeout` is
    /// also the longest a message waits for a lease.
    public var database: FleetDatabaseConfiguration
    /// Replicas expected: a lease is about 1/N of what is left, and while the database is away
    /// a replica admits limit / N per window. Errs high by default, so a fleet smaller than the
    /// hint sends less during an outage, and one up to that size never more than the limit.
    public var fleetSizeHint = 10
    /// `/readyz` fails while the database is away; by default it only says so (the relay keeps
    /// relaying under the local share, which is the point of the fallback).
    public var readinessRequiresDatabase = false
    /// `--state-key-file`: with it, access tokens and rotated refresh tokens are shared too,
    /// encrypted; without it nothing secret is written to the database.
    public var stateKey: StateKey?
    /// The longest the leases' give-back may hold up shutdown.
    public var shutdownGiveBackLimit: Duration = .seconds(5)
    /// The wall clock leases and buckets are counted in; tests freeze it.
    public var now: @Sendable () -> Date = { Date() }
    /// How provider pushbacks are shared: poll interval, bounds.
    public var pushbacks = FleetPushbacksConfiguration()

    public var url: FleetStateURL { database.url }

    /// `replicaID` nil: each runtime started from these settings names itself (two in one
    /// process are two replicas, as in the tests).
    public init(url: FleetStateURL, replicaID: String? = nil) {
        database = FleetDatabaseConfiguration(url: url, replicaID: replicaID ?? "")
    }

    /// Host name (the pod's name in Kubernetes), process ID and a random suffix: a restarted
    /// container keeps its pod name and often its PID 1, and must not take over its
    /// predecessor's leases as its own.
    public static func defaultReplicaID() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }
}

/// The fleet side of one replica: the database's connection pool, the schema brought up to
/// date, and the upkeep of the quota leases, run as one service that starts first and stops
/// last, so the leases are given back while the pool still runs.
final class FleetRuntime: Service, Sendable {
    let settings: FleetSettings
    let database: FleetDatabase
    let quota: FleetQuota
    /// Nil without a state key.
    let tokenStore: FleetTokenStore?
    /// Provider pushbacks shared with the other replicas; its poll loop runs in `run`.
    let pushbacks: FleetPushbackBridge
    private let schema = NIOLockedValueBox<SchemaState>(.unknown)
    private let logger: Logger

    enum SchemaState: Sendable, Equatable {
        case unknown
        case current
        case failed(String)
    }

    init(settings: FleetSettings, logger: Logger) {
        self.settings = settings
        var configuration = settings.database
        if configuration.replicaID.isEmpty { configuration.replicaID = FleetSettings.defaultReplicaID() }
        let database = FleetDatabase(configuration: configuration, logger: logger)
        self.database = database
        var quotaConfiguration = FleetQuotaConfiguration(fleetSizeHint: settings.fleetSizeHint)
        quotaConfiguration.maximumWait = settings.database.operationTimeout
        quota = FleetQuota(leases: FleetQuotaLeases(database: database), configuration: quotaConfiguration, logger: logger,
                           now: settings.now)
        pushbacks = FleetPushbackBridge(database: database, configuration: settings.pushbacks, logger: logger, now: settings.now)
        tokenStore = settings.stateKey.map { FleetTokenStore(database: database, key: $0, logger: logger) }
        self.logger = logger
    }

    /// Brings the schema up to date once, bounded by the migration timeout. A failure is logged
    /// and retried by `run`: a replica whose database is away at start relays under the local
    /// share rather than taking its app's mail down with it.
    func migrate() async -> Bool {
        do {
            try await FleetSchema.migrate(database)
            schema.withLockedValue { $0 = .current }
            return true
        } catch .schemaTooNew(let found, let known) {
            // Migrations only add: a replica of the previous release keeps working beside a
            // newer one during a rolling upgrade.
            logger.warning("fleet database schema is newer than this binary; carrying on with the tables it knows", metadata: [
                "found": "\(found)", "known": "\(known)",
            ])
            schema.withLockedValue { $0 = .current }
            return true
        } catch {
            let first = schema.withLockedValue { state in
                defer { state = .failed(error.description) }
                return state != .failed(error.description)
            }
            if first { logger.error("fleet database schema not migrated; quotas fall back to the local share", metadata: ["reason": "\(error)"]) }
            return false
        }
    }

    func run() async throws {
        let database = database, quota = quota
        // Detached from the service's task: PostgresClient ends its run at graceful shutdown by
        // itself, and the leases must still go back after that.
        let pool = Task.detached { await database.run() }
        await withTaskCancellationHandler {
            _ = try? await cancelWhenGracefulShutdown { [self] in
                await withDiscardingTaskGroup { upkeep in
                    upkeep.addTask { await self.migrateUntilCurrent() }
                    upkeep.addTask { await self.maintainLeases() }
                    upkeep.addTask { await self.pushbacks.pushbacks.run() }
                }
            }
            // A task of its own: a give-back must not be cut short by this task's cancellation.
            // Bounded as a whole: with the database away every call waits its bound, and a
            // thousand accounts' leases must not outlast the pod's grace period. What is not
            // given back expires, counted as spent: safe, only slower for the others.
            let before = quota.statistics.givenBack
            let limit = settings.shutdownGiveBackLimit
            await Task {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await quota.shutdown() }
                    group.addTask { try? await Task.sleep(for: limit) }
                    await group.next()
                    group.cancelAll()
                }
            }.value
            logger.info("fleet leases given back", metadata: ["leases": "\(quota.statistics.givenBack - before)"])
        } onCancel: {
            pool.cancel()
        }
        pool.cancel()
        await pool.value
    }

    private func migrateUntilCurrent() async {
        var backoff = Duration.milliseconds(500)
        while schema.withLockedValue({ $0 }) != .current {
            guard (try? await Task.sleep(for: backoff)) != nil else { return }
            if await migrate() { return }
            backoff = min(backoff * 2, .seconds(30))
        }
    }

    private func maintainLeases() async {
        while (try? await Task.sleep(for: .seconds(1))) != nil {
            await quota.maintain()
        }
    }

    /// For `/readyz`: nil while the fleet's count is in force.
    var degradedReason: String? {
        if case .failed(let reason) = schema.withLockedValue({ $0 }) { return "fleet state: \(reason)" }
        if case .degraded(let reason, _) = quota.state { return "fleet state: local share (\(reason))" }
        if case .degraded(let reason, _) = pushbacks.pushbacks.state { return "fleet state: pushbacks apply to this replica only (\(reason))" }
        return nil
    }
}
