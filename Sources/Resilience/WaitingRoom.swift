import NIOConcurrencyHelpers

/// The one implementation of "wait for a grant, bounded by a timeout, ended early by task
/// cancellation", around a `WaitingState` that makes the decisions.
///
/// The state, the waiters' continuations and their timeouts share one lock, so a grant, a timeout
/// and a cancellation each resolve a waiter under it and whichever comes first wins: a timed-out
/// waiter is no longer in the state's queue, so a later grant goes to the next one, and a granted
/// waiter keeps its grant even if its timeout fires a moment later. A caller cancelled before it
/// would be queued never appears in the queue.
public final class WaitingRoom<State: WaitingState, Grant: Sendable>: Sendable {
    public typealias Failure = State.Failure
    public typealias Resolutions = WaiterResolutions<Grant, Failure>

    @usableFromInline typealias Continuation = CheckedContinuation<Result<Grant, Failure>, Never>

    private enum Arrival {
        case queued(WaiterID)
        case done(Result<Grant, Failure>)
    }

    @usableFromInline enum Seat: Sendable {
        /// Queued by the state; the caller has not parked its continuation yet.
        case arriving
        case parked(Continuation, ScheduledTimeout)
        /// Resolved before the caller parked: it takes this as soon as it does.
        case resolved(Result<Grant, Failure>)
    }

    /// A parked waiter whose wait is over, resumed once the lock is released.
    @usableFromInline struct Wake {
        @usableFromInline let continuation: Continuation
        @usableFromInline let timeout: ScheduledTimeout
        @usableFromInline let outcome: Result<Grant, Failure>

        @usableFromInline init(continuation: Continuation, timeout: ScheduledTimeout, outcome: Result<Grant, Failure>) {
            self.continuation = continuation
            self.timeout = timeout
            self.outcome = outcome
        }

        @inlinable func run() {
            timeout.cancel()
            continuation.resume(returning: outcome)
        }
    }

    @usableFromInline struct Room: Sendable {
        @usableFromInline var state: State
        @usableFromInline var seats: [WaiterID: Seat] = [:]
        @usableFromInline var nextID: UInt64 = 0

        @usableFromInline init(state: State) {
            self.state = state
        }

        /// The first resolution of a waiter stands; later ones find no seat and do nothing.
        @inlinable mutating func settle(_ id: WaiterID, _ outcome: Result<Grant, Failure>) -> Wake? {
            switch seats[id] {
            case .arriving:
                seats[id] = .resolved(outcome)
                return nil
            case .parked(let continuation, let timeout):
                seats[id] = nil
                return Wake(continuation: continuation, timeout: timeout, outcome: outcome)
            case .resolved, nil:
                return nil
            }
        }
    }

    /// Longer timeouts are shortened to this, so that no timer overflows on an absurd value.
    static var longestTimeout: Duration { .seconds(365 * 86_400) }

    @usableFromInline let room: NIOLockedValueBox<Room>
    private let timeouts: any TimeoutScheduler

    public init(_ state: State, timeouts: any TimeoutScheduler) {
        room = NIOLockedValueBox(Room(state: state))
        self.timeouts = timeouts
    }

    // Inlinable: the relay's per-message fast paths (a free permit, an idle connection) come
    // here, and an unspecialized generic call cost thousands of instructions in metadata lookups.
    @inlinable
    public func read<Value>(_ body: (State) -> Value) -> Value {
        room.withLockedValue { body($0.state) }
    }

    /// Changes the state under the lock. Waiters it resolves through `resolutions` are resumed
    /// after the lock is released.
    @inlinable
    public func update<Value>(_ body: (inout State, inout Resolutions) -> Value) -> Value {
        var woken: [Wake] = []
        let result = room.withLockedValue { room in
            var resolutions = Resolutions()
            let result = body(&room.state, &resolutions)
            for (id, outcome) in resolutions.entries {
                if let wake = room.settle(id, outcome) { woken.append(wake) }
            }
            return result
        }
        for wake in woken { wake.run() }
        return result
    }

    /// Asks the state to admit the caller (`admit` runs under the lock with the caller's id) and,
    /// if it queued the caller, waits until the state resolves it, `timeout` elapses or the task
    /// is cancelled, whichever comes first. A timeout of zero or less never waits.
    /// `afterAdmission` runs once the lock is released, before any waiting: for work the state's
    /// answer asks of the caller (closing what it discarded, say).
    public func wait(
        timeout: Duration,
        admit: (inout State, WaiterID) -> WaitAdmission<Grant, Failure>,
        afterAdmission: () -> Void = {}
    ) async throws(Failure) -> Grant {
        let arrival: Arrival = room.withLockedValue { room in
            let id = WaiterID(room.nextID)
            room.nextID &+= 1
            if case .now(let outcome) = admit(&room.state, id) { return .done(outcome) }
            // A caller that may not wait leaves in the same breath, before anyone sees it queued.
            if let early: WaitAbandonment = Task.isCancelled ? .cancelled : timeout <= .zero ? .timedOut : nil {
                guard let failure = room.state.abandon(id, because: early) else {
                    preconditionFailure("the state answered .wait without queueing \(id)")
                }
                return .done(.failure(failure))
            }
            room.seats[id] = .arriving
            return .queued(id)
        }
        afterAdmission()
        let id: WaiterID
        switch arrival {
        case .queued(let queued): id = queued
        case .done(let outcome): return try outcome.get()
        }
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: Continuation) in
                park(id, continuation, timeout: min(timeout, Self.longestTimeout))
            }
        } onCancel: {
            abandon(id, because: .cancelled)
        }
        return try outcome.get()
    }

    private func park(_ id: WaiterID, _ continuation: Continuation, timeout: Duration) {
        let ready: Result<Grant, Failure>? = room.withLockedValue { room in
            switch room.seats[id] {
            case .arriving:
                // Scheduled under the lock so that the seat never holds a continuation without its
                // timeout; a scheduler never fires before returning, so this cannot deadlock.
                let timer = timeouts.schedule(after: timeout) { [self] in abandon(id, because: .timedOut) }
                room.seats[id] = .parked(continuation, timer)
                return nil
            case .resolved(let outcome):
                room.seats[id] = nil
                return outcome
            case .parked, nil:
                preconditionFailure("\(id) parked twice")
            }
        }
        if let ready { continuation.resume(returning: ready) }
    }

    /// Ends a wait without a grant, unless something resolved it first.
    private func abandon(_ id: WaiterID, because reason: WaitAbandonment) {
        let wake: Wake? = room.withLockedValue { room in
            switch room.seats[id] {
            case .arriving, .parked: break
            case .resolved, nil: return nil
            }
            guard let failure = room.state.abandon(id, because: reason) else { return nil }
            return room.settle(id, .failure(failure))
        }
        wake?.run()
    }
}
