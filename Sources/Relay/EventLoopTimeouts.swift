import NIOCore
import Resilience

/// Timeouts scheduled on an event loop: no task per waiter, and the loop's timer wheel is
/// already running.
struct EventLoopTimeouts: TimeoutScheduler {
    let loop: any EventLoop

    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> ScheduledTimeout {
        let scheduled = loop.scheduleTask(in: TimeAmount(delay)) { fire() }
        return ScheduledTimeout { scheduled.cancel() }
    }
}
