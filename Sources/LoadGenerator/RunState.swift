import Foundation
import NIOCore

/// What all sessions share: which messages may still start (and when, at a fixed rate), and the
/// running totals for progress. One lock acquisition per message: finishing one and claiming the
/// next happen together. Latencies and reply codes stay in each session's own `SessionStats`.
final class RunState: @unchecked Sendable {
    /// Permission to send one message.
    struct Claim: Sendable, Hashable {
        /// Fixed rate: the slot's time, from which latency is measured. Closed loop: nil, the
        /// clock starts when MAIL FROM is written.
        var intendedStart: NIODeadline?
        /// False during the warm-up: the message is sent but not counted.
        var recorded: Bool
    }

    struct Completion: Sendable, Hashable {
        var recorded: Bool
        var accepted: Bool
        var at: NIODeadline
    }

    struct Counters: Sendable, Hashable {
        /// Recorded messages finished, whatever the outcome.
        var sent = 0
        /// Recorded messages answered 2xx at the end of data.
        var accepted = 0
        /// Every message finished, warm-up included (for the progress rate).
        var completedAll = 0
        var connectionErrors = 0
    }

    let start: NIODeadline
    let measureStart: NIODeadline
    let stop: LoadOptions.Stop
    let schedule: RateSchedule?

    private let lock = NSLock()
    private var nextSlot = 0
    private var recordedClaims = 0
    private var stopped = false
    private var counters = Counters()
    private var lastRecordedCompletion: NIODeadline?

    init(start: NIODeadline, warmup: Duration, stop: LoadOptions.Stop, rate: Double?) {
        self.start = start
        self.measureStart = start + TimeAmount(warmup)
        self.stop = stop
        self.schedule = rate.map(RateSchedule.init(rate:))
    }

    /// Accounts for the message just finished (if any) and, when `claimNext`, hands out the next
    /// one; nil when the run is over.
    func finish(_ completion: Completion?, claimNext: Bool, now: NIODeadline) -> Claim? {
        lock.lock()
        defer { lock.unlock() }
        if let completion {
            counters.completedAll += 1
            if completion.recorded {
                counters.sent += 1
                if completion.accepted { counters.accepted += 1 }
                if lastRecordedCompletion.map({ completion.at > $0 }) ?? true {
                    lastRecordedCompletion = completion.at
                }
            }
        }
        guard claimNext, !stopped else { return nil }
        let time = schedule.map { start + .nanoseconds($0.offsetNanoseconds(ofSlot: nextSlot)) } ?? now
        let recorded = time >= measureStart
        if recorded, !withinBudget(at: time) {
            stopped = true
            return nil
        }
        if schedule != nil { nextSlot += 1 }
        if recorded { recordedClaims += 1 }
        return Claim(intendedStart: schedule == nil ? nil : time, recorded: recorded)
    }

    /// Whether a (re)connecting session would get anything to send.
    func hasWork(now: NIODeadline) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return false }
        let time = schedule.map { start + .nanoseconds($0.offsetNanoseconds(ofSlot: nextSlot)) } ?? now
        return time < measureStart || withinBudget(at: time)
    }

    private func withinBudget(at time: NIODeadline) -> Bool {
        switch stop {
        case .messages(let count): recordedClaims < count
        case .duration(let duration): time < measureStart + TimeAmount(duration)
        }
    }

    /// No further message starts (cancellation).
    func stopNow() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    func connectionError() {
        lock.lock()
        counters.connectionErrors += 1
        lock.unlock()
    }

    func snapshot() -> (counters: Counters, lastRecordedCompletion: NIODeadline?) {
        lock.lock()
        defer { lock.unlock() }
        return (counters, lastRecordedCompletion)
    }
}
