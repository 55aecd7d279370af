/// Sends `WATCHDOG=1` every `notifier.watchdogInterval` until the task is cancelled; returns at
/// once when the unit has no watchdog. Plain structured concurrency, so Ops stays free of
/// ServiceLifecycle: run it in the service group's task group, or as a child task of main.
public func runWatchdog(notifier: SystemdNotifier) async {
    guard let interval = notifier.watchdogInterval else { return }
    while !Task.isCancelled {
        notifier.watchdog()
        do { try await Task.sleep(for: interval) } catch { return }
    }
}
