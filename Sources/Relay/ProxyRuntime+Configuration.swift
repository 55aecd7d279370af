import Accounts
import Ops
import Prometheus
import SMTPNIO

extension ProxyRuntime {
    public struct Configuration: Sendable {
        public var server = RelayServer.Configuration()
        /// Name the proxy gives in EHLO to providers.
        public var heloName = "localhost"
        public var upstreamTimeouts = SMTPClientConnection.Timeouts()
        public var tokenExpiryMargin: Duration = .seconds(600)
        /// One HTTP request to a token endpoint, connect included.
        public var tokenRequestTimeout: Duration = .seconds(30)
        public var poolAcquireTimeout: Duration = .seconds(30)
        public var upstreamIdleTimeout: Duration = .seconds(300)
        /// Connections are retired this long before the token they authenticated with expires.
        public var upstreamTokenExpirySafety: Duration = .seconds(60)
        public var resilience = ResilienceSettings()
        /// Where rotated refresh tokens are kept (`--state-dir`); nil keeps them in memory only.
        public var stateDirectory: String?
        /// `--dry-run`: upstream connections go to an in-process provider that accepts every
        /// message and drops it; no token is fetched, no provider contacted.
        public var dryRun = false
        /// `--state-url`: every replica shares each account's limits through this database.
        public var fleet: FleetSettings?
        /// Where the relay reports what happens; `serve` passes the Prometheus-backed one.
        public var metrics: any RelayMetrics = NoopRelayMetrics()
        public init() {}
    }

    /// What runs beside the SMTP listener. `serve` has all of it; `demo` and most tests none.
    public struct Companions: Sendable {
        /// Reload the accounts when these sources change, on SIGHUP and on a periodic poll.
        public var reload: Reload?
        /// The admin HTTP server: health, readiness, accounts, metrics.
        public var admin: Admin?
        /// systemd: READY, RELOADING and STOPPING, and the watchdog when the unit has one.
        public var notifier: SystemdNotifier?
        public init() {}
    }

    public struct Reload: Sendable {
        public var sources: AccountSources
        /// What the runtime was started with, so the first poll does not reload it again.
        public var loaded: LoadedAccounts?
        public var configuration = ConfigReloadService.Configuration()

        public init(sources: AccountSources, loaded: LoadedAccounts?) {
            self.sources = sources
            self.loaded = loaded
        }
    }

    public struct Admin: Sendable {
        public var host: String
        public var port: Int
        public var metrics: PrometheusCollectorRegistry

        public init(host: String, port: Int, metrics: PrometheusCollectorRegistry) {
            self.host = host
            self.port = port
            self.metrics = metrics
        }
    }

    /// The admin port could not be bound; the SMTP listener was closed again.
    public struct AdminListenError: Error, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var underlying: any Error
        public var description: String { "cannot listen on \(host):\(port) (admin): \(underlying)" }
    }
}
