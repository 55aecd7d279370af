/// At most `limit` concurrent holders (0 = unlimited); others wait in arrival order, each up to its
/// own timeout.
///
/// A released permit goes straight to the longest waiter, so a newcomer can never overtake the
/// queue. Timeouts and cancellation are the `WaitingRoom`'s: whichever of a hand-off, a timeout
/// and a cancellation comes first wins.
public final class ConcurrencyLimiter: Sendable {
    /// The configured limit, negative values clamped to 0 (unlimited).
    public let limit: Int
    private let room: WaitingRoom<Permits, Void>

    struct Permits: WaitingState {
        var inUse = 0
        var waiters = WaiterQueue<Void>()

        /// Takes a permit if one is free and nobody is queued ahead.
        mutating func takeFree(limit: Int) -> Bool {
            guard waiters.isEmpty, limit == 0 || inUse < limit else { return false }
            inUse += 1
            return true
        }

        mutating func abandon(_ id: WaiterID, because reason: WaitAbandonment) -> WaitAbandonment? {
            waiters.remove(id) == nil ? nil : reason
        }
    }

    /// - Parameter limit: the most holders at once; 0 or less means unlimited (holders are still counted).
    /// - Parameter timeouts: how waits time out: `Task.sleep`, or a test's `ManualClock`.
    public init(limit: Int, timeouts: any TimeoutScheduler = SleepingTimeouts.system) {
        self.limit = max(0, limit)
        room = WaitingRoom(Permits(), timeouts: timeouts)
    }

    /// - Parameter sleep: how a waiter's timeout elapses, for a test's hand-fired timer.
    public convenience init(limit: Int, sleep: @escaping @Sendable (Duration) async throws -> Void) {
        self.init(limit: limit, timeouts: SleepingTimeouts(sleep: sleep))
    }

    /// Waits up to `timeout` for a permit. Returns true holding one, to be given back with
    /// `release()`; false, holding none, on timeout or if the task is cancelled.
    public func acquire(timeout: Duration) async -> Bool {
        if Task.isCancelled { return false }
        let limit = self.limit
        do {
            try await room.wait(timeout: timeout) { permits, id in
                if permits.takeFree(limit: limit) { return .now(.success(())) }
                permits.waiters.append(id, ())
                return .wait
            }
            return true
        } catch {
            return false
        }
    }

    /// A permit if one is free now and nobody is queued ahead; never waits.
    public func tryAcquire() -> Bool {
        let limit = self.limit
        return room.update { permits, _ in permits.takeFree(limit: limit) }
    }

    /// Gives a permit back: to the longest waiter if there is one, else to the pool.
    /// Call exactly once per successful `acquire`; extra calls never take `inUse` below zero.
    public func release() {
        room.update { permits, resolutions in
            if let next = permits.waiters.popFirst() {
                resolutions.grant((), to: next.id)  // the permit changes hands; inUse stays
            } else {
                permits.inUse = max(0, permits.inUse - 1)
            }
        }
    }

    /// Permits currently held, including those just handed to a waiter that has not resumed yet.
    public var inUse: Int {
        room.read { $0.inUse }
    }

    /// Callers currently queued for a permit.
    public var waiting: Int {
        room.read { $0.waiters.count }
    }
}
