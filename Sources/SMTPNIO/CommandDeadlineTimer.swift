import NIOCore

/// Schedules the one timer of an `SMTPClientHandler`: on the channel's event loop in
/// production; tests wrap it to count how many timers a connection asks for.
struct CommandTimerScheduler: Sendable {
    let schedule: @Sendable (any EventLoop, NIODeadline, @escaping @Sendable () -> Void) -> Scheduled<Void>

    static let eventLoop = CommandTimerScheduler { eventLoop, deadline, task in
        eventLoop.scheduleTask(deadline: deadline, task)
    }
}

/// The one timer a client connection keeps for all its reply deadlines, re-armed lazily.
///
/// A reply that arrives in time does not cancel anything: the timer stays armed for the
/// deadline it was set for, and when it fires its owner looks at the deadlines then pending and
/// either gives up or arms it again. Only a deadline earlier than the armed one reschedules.
/// A timer per command would cost a timer-heap insert and removal for every MAIL, RCPT, DATA
/// and end of data.
struct CommandDeadlineTimer {
    private let scheduler: CommandTimerScheduler
    private var scheduled: Scheduled<Void>?
    private var armedFor: NIODeadline?

    init(scheduler: CommandTimerScheduler) {
        self.scheduler = scheduler
    }

    /// Whether the timer is armed to fire at or before `deadline`.
    func firesBy(_ deadline: NIODeadline) -> Bool {
        armedFor.map { $0 <= deadline } ?? false
    }

    /// Makes sure the timer fires no later than `deadline`.
    mutating func arm(for deadline: NIODeadline, on eventLoop: any EventLoop, fire: @escaping @Sendable () -> Void) {
        if firesBy(deadline) { return }
        scheduled?.cancel()
        scheduled = scheduler.schedule(eventLoop, deadline, fire)
        armedFor = deadline
    }

    /// To be called first thing when the timer fires: it is no longer armed.
    mutating func fired() {
        scheduled = nil
        armedFor = nil
    }

    mutating func cancel() {
        scheduled?.cancel()
        fired()
    }
}
