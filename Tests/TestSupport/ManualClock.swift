import NIOConcurrencyHelpers
import Resilience

/// A clock that moves only when told to, for the tests of the time-based types in Resilience and
/// of the modules that use them.
public final class ManualClock: Sendable {
    private let current: NIOLockedValueBox<ContinuousClock.Instant>

    public init(start: ContinuousClock.Instant = .now) {
        current = NIOLockedValueBox(start)
    }

    public var now: ContinuousClock.Instant {
        current.withLockedValue { $0 }
    }

    /// Moves the clock forward. Negative durations are ignored: the types under test rely on time
    /// never going backwards, as `ContinuousClock` guarantees.
    public func advance(by duration: Duration) {
        guard duration > .zero else { return }
        current.withLockedValue { $0 = $0 + duration }
    }

    /// A `ResilienceClock` that reads this clock.
    public var clock: ResilienceClock {
        ResilienceClock { [self] in self.now }
    }
}
