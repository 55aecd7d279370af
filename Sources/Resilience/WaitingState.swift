/// The state behind a `WaitingRoom`: it decides who is served at once, who waits in which order
/// and who is granted what. The room keeps the waiters' continuations and timeouts beside it,
/// under the same lock.
public protocol WaitingState: Sendable {
    associatedtype Failure: Error

    /// A wait ended by timeout or cancellation before the state resolved it: forget the waiter
    /// and say what it hears. Nil if the state no longer holds it, because a grant or a refusal
    /// came first (and so wins).
    mutating func abandon(_ id: WaiterID, because reason: WaitAbandonment) -> Failure?
}

/// What the state answers a caller on arrival.
public enum WaitAdmission<Grant: Sendable, Failure: Error> {
    /// Served or refused without waiting.
    case now(Result<Grant, Failure>)
    /// The state queued the caller under the id it was given; a resolution ends the wait.
    case wait
}

/// Waiters the state resolved while the room's lock was held; the room resumes them once the
/// lock is released, so no continuation runs under it.
public struct WaiterResolutions<Grant: Sendable, Failure: Error> {
    @usableFromInline var entries: [(id: WaiterID, outcome: Result<Grant, Failure>)] = []

    @usableFromInline init() {}

    public mutating func grant(_ grant: Grant, to id: WaiterID) {
        entries.append((id, .success(grant)))
    }

    public mutating func fail(_ id: WaiterID, with failure: Failure) {
        entries.append((id, .failure(failure)))
    }
}
