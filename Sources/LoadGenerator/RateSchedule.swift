/// The fixed-rate schedule: slot `n` is due `n / rate` seconds after the start of the run.
///
/// Slots are dealt in order from one shared counter to whichever session is free. A message's
/// latency is measured from its slot's time, so when every session is busy and a slot is served
/// late, the wait counts (no coordinated omission).
public struct RateSchedule: Sendable, Hashable {
    /// Messages per second, across all sessions.
    public let rate: Double

    public init(rate: Double) {
        precondition(rate > 0 && rate.isFinite, "rate must be positive")
        self.rate = rate
    }

    /// Nanoseconds from the start of the run to slot `slot`.
    public func offsetNanoseconds(ofSlot slot: Int) -> Int64 {
        let nanoseconds = (Double(slot) * 1e9 / rate).rounded()
        return nanoseconds >= Double(Int64.max) ? .max : Int64(nanoseconds)
    }

    public func offset(ofSlot slot: Int) -> Duration { .nanoseconds(offsetNanoseconds(ofSlot: slot)) }

    /// How many slots are due strictly before `offset`: slots `0..<n`.
    public func slots(before offset: Duration) -> Int {
        let target = offset.nanoseconds
        guard target > 0 else { return 0 }
        // Estimate, then settle the rounding against the exact slot times.
        var count = Int((Double(target) / 1e9 * rate).rounded(.up))
        while count > 0, offsetNanoseconds(ofSlot: count - 1) >= target { count -= 1 }
        while offsetNanoseconds(ofSlot: count) < target { count += 1 }
        return count
    }
}
