/// Where waits get their timeouts: an event loop or `Task.sleep` in production, a `ManualClock`
/// in tests, which fires them when advanced so that no test waits for real time to pass.
public protocol TimeoutScheduler: Sendable {
    /// Calls `fire` once, `delay` from now, unless the returned timeout is cancelled first.
    /// Never calls `fire` before returning.
    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> ScheduledTimeout
}

/// A pending timeout; cancelling it after it fired, or twice, does nothing.
public struct ScheduledTimeout: Sendable {
    private let cancellation: @Sendable () -> Void

    public init(cancel: @escaping @Sendable () -> Void) {
        cancellation = cancel
    }

    public func cancel() {
        cancellation()
    }
}

/// Timeouts that elapse in a task of their own, by a `sleep` that tests may replace.
public struct SleepingTimeouts: TimeoutScheduler {
    private let sleep: @Sendable (Duration) async throws -> Void

    public init(sleep: @escaping @Sendable (Duration) async throws -> Void) {
        self.sleep = sleep
    }

    /// `Task.sleep` on the continuous clock.
    public static let system = SleepingTimeouts { try await Task.sleep(for: $0) }

    public func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> ScheduledTimeout {
        let sleep = self.sleep
        let task = Task {
            // A cancelled sleep throws: the timeout was withdrawn.
            do { try await sleep(delay) } catch { return }
            // A test's sleep may return instead of throwing when cancelled.
            if !Task.isCancelled { fire() }
        }
        return ScheduledTimeout { task.cancel() }
    }
}
