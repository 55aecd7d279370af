import Logging
import ServiceLifecycle

enum ServiceRunner {
    /// Kubernetes' default termination grace is 30 s; stopping inside 25 s leaves margin.
    static let defaultShutdownGrace: Duration = .seconds(25)

    /// Runs the services until SIGTERM / SIGINT. They stop in reverse order, so list the proxy
    /// runtime last: its listener stops first and its sessions drain while the rest still run.
    /// The listener cuts its own sessions at `shutdownGrace`; the group's limit is a backstop.
    static func run(_ services: [any Service], shutdownGrace: Duration = defaultShutdownGrace, logger: Logger) async throws {
        var configuration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = shutdownGrace + .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
    }
}
