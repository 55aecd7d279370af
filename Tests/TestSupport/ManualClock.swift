import NIOConcurrencyHelpers
import Resilience

/// A clock that moves only when told to, for the tests of the time-based types in Resilience and
/// of the modules that use them. Timeouts scheduled on it fire when `advance(by:)` reaches them,
/// so a test of a timeout needs no real time to pass.
public final class ManualClock: Sendable {
    private struct Timer {
        let deadline: ContinuousClock.Instant
        let fire: @Sendable () -> Void
    }

    private struct State {
        var now: ContinuousClock.Instant
        var timers: [UInt64: Timer] = [:]
        var nextTimer: UInt64 = 0
    }

    private let state: NIOLockedValueBox<State>

    public init(start: ContinuousClock.Instant = .now) {
        state = NIOLockedValueBox(State(now: start))
    }

    public var now: ContinuousClock.Instant {
        state.withLockedValue { $0.now }
    }

    /// Timeouts scheduled and neither fired nor cancelled yet.
    public var pendingTimeouts: Int {
        state.withLockedValue { $0.timers.count }
    }

    /// Moves the clock forward and fires the timeouts it reaches, earliest first. Negative
    /// durations are ignored: the types under test rely on time never going backwards, as
    /// `ContinuousClock` guarantees.
    public func advance(by duration: Duration) {
        guard duration > .zero else { return }
        let due: [Timer] = state.withLockedValue { state in
            state.now = state.now + duration
            let due = state.timers.filter { $0.value.deadline <= state.now }
                .sorted { ($0.value.deadline, $0.key) < ($1.value.deadline, $1.key) }
            for (id, _) in due { state.timers[id] = nil }
            return due.map(\.value)
        }
        // Outside the lock: a timeout's work may schedule or cancel others.
        for timer in due { timer.fire() }
    }

    /// A `ResilienceClock` that reads this clock.
    public var clock: ResilienceClock {
        ResilienceClock { [self] in self.now }
    }
}

extension ManualClock: TimeoutScheduler {
    public func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> ScheduledTimeout {
        let id: UInt64 = state.withLockedValue { state in
            let id = state.nextTimer
            state.nextTimer += 1
            state.timers[id] = Timer(deadline: state.now + delay, fire: fire)
            return id
        }
        return ScheduledTimeout { [self] in
            _ = state.withLockedValue { $0.timers.removeValue(forKey: id) }
        }
    }
}
