import Ops
import ServiceLifecycle

/// systemd's watchdog as a service of the proxy's group, listed before the listener so it stops
/// after it: a drain that takes longer than `WatchdogSec` must not look like a hang.
struct SystemdWatchdogService: Service {
    let notifier: SystemdNotifier

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            await runWatchdog(notifier: notifier)
        }
    }
}
