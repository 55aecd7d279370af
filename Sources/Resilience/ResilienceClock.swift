/// The time source of every time-based type in this module.
///
/// A closure rather than a `Clock` generic so that the types stay non-generic and a test can hand
/// the same manual clock (TestSupport's `ManualClock`) to several of them.
public struct ResilienceClock: Sendable {
    /// The current instant; must never go backwards, like `ContinuousClock`.
    public let now: @Sendable () -> ContinuousClock.Instant

    public init(now: @escaping @Sendable () -> ContinuousClock.Instant) {
        self.now = now
    }

    /// The process's `ContinuousClock`.
    public static let system = ResilienceClock(now: { ContinuousClock.Instant.now })
}
