import NIOConcurrencyHelpers

/// At most `limit` concurrent holders (0 = unlimited); others wait in arrival order, each up to its
/// own timeout.
///
/// A released permit goes straight to the longest waiter, so a newcomer can never overtake the
/// queue. Hand-off, timeout and cancellation all resolve a waiter under one lock and whichever
/// comes first wins: a waiter that has timed out is no longer in the queue, so a later release
/// hands its permit to the next waiter or back to the pool, and a waiter that was handed a permit
/// returns true even if its timeout fires a moment later.
public final class ConcurrencyLimiter: Sendable {
    /// The configured limit, negative values clamped to 0 (unlimited).
    public let limit: Int
    private let state = NIOLockedValueBox(State())
    /// How a waiter's timeout elapses: `Task.sleep`, or a test's hand-fired timer.
    private let sleep: @Sendable (Duration) async throws -> Void

    /// Longer timeouts are shortened to this, so that `Task.sleep` never overflows on an absurd value.
    static let longestTimeout = Duration.seconds(365 * 86_400)

    private struct State: Sendable {
        var inUse = 0
        var nextID: UInt64 = 0
        var waiters = LimiterWaiterQueue()

        /// Takes a permit if one is free and nobody is queued ahead.
        mutating func takeFree(limit: Int) -> Bool {
            guard waiters.isEmpty, limit == 0 || inUse < limit else { return false }
            inUse += 1
            return true
        }
    }

    private enum Admission {
        case acquired
        case wait(id: UInt64)
    }

    /// - Parameter limit: the most holders at once; 0 or less means unlimited (holders are still counted).
    public init(limit: Int, sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.limit = max(0, limit)
        self.sleep = sleep
    }

    /// Waits up to `timeout` (real time, unless a test gave its own `sleep`) for a permit. Returns true holding one, to be given back with
    /// `release()`; false, holding none, on timeout or if the task is cancelled while waiting.
    public func acquire(timeout: Duration) async -> Bool {
        if Task.isCancelled { return false }
        let limit = self.limit
        let admission: Admission = state.withLockedValue { state in
            if state.takeFree(limit: limit) { return .acquired }
            state.nextID &+= 1
            return .wait(id: state.nextID)
        }
        guard case .wait(let id) = admission else { return true }
        guard timeout > .zero else { return false }
        let timeout = min(timeout, Self.longestTimeout)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                // Decide and enqueue under one lock: a release may have happened since the fast path,
                // and a cancellation that ran before the waiter was queued found nothing to remove.
                let immediate: Bool? = state.withLockedValue { state in
                    if Task.isCancelled { return false }
                    if state.takeFree(limit: limit) { return true }
                    state.waiters.append(id, .init(continuation: continuation))
                    return nil
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                    return
                }
                let timer = Task { [self] in
                    do { try await self.sleep(timeout) } catch { return }
                    self.abandon(id)
                }
                let attached = state.withLockedValue { $0.waiters.setTimer(timer, for: id) }
                if !attached { timer.cancel() }
            }
        } onCancel: {
            self.abandon(id)
        }
    }

    /// A permit if one is free now and nobody is queued ahead; never waits.
    public func tryAcquire() -> Bool {
        let limit = self.limit
        return state.withLockedValue { $0.takeFree(limit: limit) }
    }

    /// Gives a permit back: to the longest waiter if there is one, else to the pool.
    /// Call exactly once per successful `acquire`; extra calls never take `inUse` below zero.
    public func release() {
        let next: LimiterWaiterQueue.Waiter? = state.withLockedValue { state in
            if let waiter = state.waiters.popFirst() { return waiter }  // the permit changes hands; inUse stays
            state.inUse = max(0, state.inUse - 1)
            return nil
        }
        guard let next else { return }
        next.timer?.cancel()
        next.continuation.resume(returning: true)
    }

    /// Permits currently held, including those just handed to a waiter that has not resumed yet.
    public var inUse: Int {
        state.withLockedValue { $0.inUse }
    }

    /// Callers currently queued for a permit.
    public var waiting: Int {
        state.withLockedValue { $0.waiters.count }
    }

    /// Ends a wait without a permit (timeout or cancellation); a no-op if the waiter was already resolved.
    private func abandon(_ id: UInt64) {
        let waiter = state.withLockedValue { $0.waiters.remove(id) }
        guard let waiter else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume(returning: false)
    }
}
