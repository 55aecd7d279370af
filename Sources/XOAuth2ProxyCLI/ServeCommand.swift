import Foundation
import Accounts
import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import Ops
import Relay

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the relay (the default command).")

    @OptionGroup(title: "Accounts") var accounts: AccountSourceOptions

    @Option(help: "Address to listen on: IPv4, IPv6 (`::` takes both families, `[::1]`) or a name. Keep it on loopback: apps reach the proxy on localhost. Elsewhere AUTH needs TLS (--tls-cert, --tls-key) or --allow-plaintext-auth.")
    var host = "127.0.0.1"

    @Option(help: "SMTP port to listen on.")
    var port = 2525

    @Flag(help: "Relay to an in-process provider that accepts and drops every message: no token is fetched, no provider contacted.")
    var dryRun = false

    @Option(help: "Largest message accepted, in octets (advertised as SIZE).")
    var maxMessageSize = 35 * 1024 * 1024

    @Option(help: "Seconds a client may stay silent when it is its turn before it gets 421.")
    var idleTimeout = 300

    @Option(help: "Client connections served at once; more are answered 421 4.3.2 and closed.")
    var maxConnections = 10_000

    @Option(help: "Address of the admin HTTP server (/healthz, /readyz, /health, /metrics, /accounts): IPv4, IPv6 (`::` takes both families) or a name.")
    var adminHost = "127.0.0.1"

    @Option(help: "Port of the admin HTTP server; 0 disables it.")
    var adminPort = 9090

    @Flag(help: "Also export xoauth2_proxy_account_messages_total with an account label (one series per account).")
    var metricsPerAccount = false

    @Option(help: "Directory for rotated refresh tokens (an emptyDir or PVC in Kubernetes); without it they live in memory only.")
    var stateDir: String?

    @Option(help: "Seconds transactions in flight get to finish after SIGTERM; keep it below the pod's terminationGracePeriodSeconds.")
    var shutdownGrace = 25

    @Option(help: "Name in the greeting and in EHLO to providers.")
    var hostname = "localhost"

    @OptionGroup(title: "TLS for apps") var tls: ServerTLSOptions

    @OptionGroup(title: "Upstream timeouts") var timeouts: TimeoutOptions

    @OptionGroup(title: "Limits and back-off") var resilience: ResilienceOptions

    @OptionGroup(title: "Fleet (limits shared by every replica)") var fleet: FleetOptions

    @OptionGroup var logging: LoggingOptions

    /// Every source of accounts this invocation names; they combine.
    var accountSources: AccountSources { accounts.sources }

    func validatedSettings() throws -> (LoadedAccounts, ProxyRuntime.Configuration) {
        guard (0...65535).contains(port) else {
            throw StartupFailure.configuration("--port: \(port) is not a port number (0-65535)")
        }
        guard (0...65535).contains(adminPort) else {
            throw StartupFailure.configuration("--admin-port: \(adminPort) is not a port number (0 disables the admin server)")
        }
        guard maxMessageSize > 0 else { throw StartupFailure.configuration("--max-message-size: must be positive") }
        guard idleTimeout > 0 else { throw StartupFailure.configuration("--idle-timeout: must be positive") }
        guard maxConnections > 0 else { throw StartupFailure.configuration("--max-connections: must be positive") }
        guard shutdownGrace >= 0 else { throw StartupFailure.configuration("--shutdown-grace: must not be negative") }
        let loaded = try accounts.load()
        var settings = ProxyRuntime.Configuration()
        settings.server.host = host
        settings.server.port = port
        settings.server.idleTimeout = .seconds(Int64(idleTimeout))
        settings.server.maxConnections = maxConnections
        settings.server.shutdownGrace = .seconds(shutdownGrace)
        settings.stateDirectory = stateDir
        settings.dryRun = dryRun
        settings.server.session.stateMachine.maxMessageSize = maxMessageSize
        settings.server.session.stateMachine.hostname = hostname
        settings.heloName = hostname
        try tls.apply(to: &settings.server)
        try timeouts.apply(to: &settings)
        try resilience.apply(to: &settings)
        try fleet.apply(to: &settings)
        return (loaded, settings)
    }

    func run() async throws {
        let (loaded, validated) = try validatedSettings()
        var settings = validated
        let logger = logging.bootstrap()
        let metrics = MetricsSetup.bootstrap()
        settings.metrics = PrometheusRelayMetrics(registry: metrics, tokenProviders: Provider.allCases.map(\.rawValue),
                                                  perAccount: metricsPerAccount)
        var companions = ProxyRuntime.Companions()
        companions.reload = .init(sources: accountSources, loaded: loaded)
        companions.notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
        if adminPort != 0 { companions.admin = .init(host: adminHost, port: adminPort, metrics: metrics) }
        let runtime = try await startRuntime(settings, directory: loaded.directory, companions: companions, logger: logger)
        try await ServiceRunner.run([runtime], shutdownGrace: settings.server.shutdownGrace, logger: logger)
    }
}

/// Starts the runtime, sorting failures into "fix your config" (2) and "the machine said no" (1).
func startRuntime(_ settings: ProxyRuntime.Configuration, directory: AccountDirectory, companions: ProxyRuntime.Companions = .init(),
                  logger: Logger) async throws -> ProxyRuntime {
    do {
        return try await ProxyRuntime.start(settings, directory: directory, companions: companions,
                                            group: MultiThreadedEventLoopGroup.singleton, logger: logger)
    } catch let error as ConfigError {
        throw StartupFailure.configuration(error.description)
    } catch let error as ProxyRuntime.AdminListenError {
        throw StartupFailure.runtime(error.description)
    } catch let error as IOError {
        throw StartupFailure.runtime("cannot listen on \(settings.server.host):\(settings.server.port): \(error)")
    } catch {
        throw StartupFailure.runtime("start-up failed: \(error)")
    }
}
