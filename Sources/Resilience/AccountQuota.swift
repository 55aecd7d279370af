import NIOConcurrencyHelpers

/// One account's message and recipient limits over rolling windows, shared by all its sessions.
///
/// A message is reserved before it is relayed and refunded if the upstream does not take it, so
/// that refused or failed mail does not use up the quota. Windows are counted even for unlimited
/// limits, so that the status page shows real usage.
///
/// The windows are `RollingWindowCounter`s with 60 buckets: an event may count up to 1/60 of its
/// window longer than the window (1 s per minute, 1 min per hour, 24 min per day), which errs on
/// the side of never exceeding a limit.
public final class AccountQuota: Sendable {
    /// The limits in force, negative values clamped to 0 (unlimited).
    public let limits: QuotaLimits
    private let clock: ResilienceClock
    private let windows: NIOLockedValueBox<Windows>

    private struct Windows: Sendable {
        var minute = RollingWindowCounter(window: QuotaLimit.messagesPerMinute.window)
        var hour = RollingWindowCounter(window: QuotaLimit.messagesPerHour.window)
        var day = RollingWindowCounter(window: QuotaLimit.messagesPerDay.window)
        var recipients = RollingWindowCounter(window: QuotaLimit.recipientsPerDay.window)
    }

    /// - Parameter clock: read on every call; a manual clock makes the windows testable without waiting.
    public init(limits: QuotaLimits, clock: ResilienceClock = .system) {
        self.limits = limits.clamped
        self.clock = clock
        self.windows = NIOLockedValueBox(Windows())
    }

    /// New limits over the same counts: a reloaded configuration must not reset what the
    /// account already sent today. Both objects keep counting into the same windows.
    public init(limits: QuotaLimits, clock: ResilienceClock = .system, sharingCountsWith previous: AccountQuota) {
        self.limits = limits.clamped
        self.clock = clock
        self.windows = previous.windows
    }

    /// The day windows' events by age, for persisting across restarts (the minute and hour
    /// windows are short enough to start empty).
    public func dayHistory() -> (messages: [(age: Duration, count: Int)], recipients: [(age: Duration, count: Int)]) {
        let now = clock.now()
        return windows.withLockedValue { ($0.day.history(at: now), $0.recipients.history(at: now)) }
    }

    /// Puts back what `dayHistory` saved before a restart: call it before the account sends.
    public func seedDayHistory(messages: [(age: Duration, count: Int)], recipients: [(age: Duration, count: Int)]) {
        let now = clock.now()
        windows.withLockedValue { windows in
            for entry in messages.sorted(by: { $0.age > $1.age }) where entry.age < QuotaLimit.messagesPerDay.window {
                windows.day.add(entry.count, at: now - entry.age)
            }
            for entry in recipients.sorted(by: { $0.age > $1.age }) where entry.age < QuotaLimit.recipientsPerDay.window {
                windows.recipients.add(entry.count, at: now - entry.age)
            }
        }
    }

    /// Reserves one message in all three message windows, or none of them.
    ///
    /// When several limits refuse, the refusal names the one that frees last: that is when the
    /// message can actually go, so a client told to retry then is not refused again.
    public func reserveMessage() -> QuotaDecision<MessageReservation> {
        let now = clock.now()
        let limits = self.limits
        return windows.withLockedValue { windows in
            let refusals = [
                Self.refusal(.messagesPerMinute, limits.messagesPerMinute, &windows.minute, now),
                Self.refusal(.messagesPerHour, limits.messagesPerHour, &windows.hour, now),
                Self.refusal(.messagesPerDay, limits.messagesPerDay, &windows.day, now),
            ].compactMap { $0 }
            if let last = refusals.max(by: { $0.retryAfter < $1.retryAfter }) {
                return .refused(last)
            }
            return .granted(MessageReservation(minuteSlot: windows.minute.add(at: now),
                                               hourSlot: windows.hour.add(at: now),
                                               daySlot: windows.day.add(at: now)))
        }
    }

    /// Reserves one recipient of `reservation`'s message, or returns why not.
    public func reserveRecipient(for reservation: inout MessageReservation) -> QuotaRefusal? {
        let now = clock.now()
        let limit = limits.recipientsPerDay
        let outcome: Result<RollingWindowCounter.Slot, QuotaRefusal> = windows.withLockedValue { windows in
            if let refusal = Self.refusal(.recipientsPerDay, limit, &windows.recipients, now) {
                return .failure(refusal)
            }
            return .success(windows.recipients.add(at: now))
        }
        switch outcome {
        case .success(let slot):
            reservation.appendRecipient(slot)
            return nil
        case .failure(let refusal):
            return refusal
        }
    }

    /// Gives back one recipient of `reservation` that the upstream refused.
    public func refundRecipient(_ reservation: inout MessageReservation) {
        guard let slot = reservation.removeLastRecipient() else { return }
        let now = clock.now()
        windows.withLockedValue { $0.recipients.refund(slot: slot, at: now) }
    }

    /// Gives back the whole message, in all windows, with all its recipients: the upstream did not
    /// accept it. Call at most once per reservation.
    public func refund(_ reservation: MessageReservation) {
        let now = clock.now()
        windows.withLockedValue { windows in
            windows.minute.refund(slot: reservation.minuteSlot, at: now)
            windows.hour.refund(slot: reservation.hourSlot, at: now)
            windows.day.refund(slot: reservation.daySlot, at: now)
            for run in reservation.recipientRuns {
                windows.recipients.refund(run.count, slot: run.slot, at: now)
            }
        }
    }

    /// Current counts of all four windows, with the limits.
    public func usage() -> QuotaUsage {
        let now = clock.now()
        let limits = self.limits
        return windows.withLockedValue { windows in
            QuotaUsage(messagesLastMinute: windows.minute.count(at: now),
                       messagesLastHour: windows.hour.count(at: now),
                       messagesLastDay: windows.day.count(at: now),
                       recipientsLastDay: windows.recipients.count(at: now),
                       limits: limits)
        }
    }

    /// The bucket storage of all four windows, for tests of the memory bound.
    var storageCount: Int {
        windows.withLockedValue { $0.minute.storageCount + $0.hour.storageCount + $0.day.storageCount + $0.recipients.storageCount }
    }

    /// The refusal if `counter` has no room for one more under `value` (0 = unlimited).
    private static func refusal(_ limit: QuotaLimit, _ value: Int, _ counter: inout RollingWindowCounter,
                                _ now: ContinuousClock.Instant) -> QuotaRefusal? {
        guard value > 0, let free = counter.freeAt(needed: 1, limit: value, at: now) else { return nil }
        return QuotaRefusal(limit: limit, value: value, retryAfter: free - now)
    }
}
