import NIOConcurrencyHelpers
import NIOCore

/// Runs a task's jobs on one event loop, so a connection's task and its channel share a thread:
/// awaiting the channel's futures and writing to it then cost no thread hop and no wake-up.
/// (SwiftNIO 2.101 has no task executor of its own.)
public final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    public let eventLoop: any EventLoop

    private init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }

    private static let executors = NIOLockedValueBox<[ObjectIdentifier: EventLoopTaskExecutor]>([:])

    /// One executor per event loop, kept for the life of the process: a task refers to its
    /// preferred executor unowned, and event loops are few and live as long.
    public static func on(_ eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        let key = ObjectIdentifier(eventLoop)
        return executors.withLockedValue { executors in
            if let existing = executors[key] { return existing }
            let executor = EventLoopTaskExecutor(eventLoop: eventLoop)
            executors[key] = executor
            return executor
        }
    }
}
