import NIOConcurrencyHelpers

/// Bounds what a caller spends waiting for the database: each call returns within its timeout,
/// and no more than `limit` calls are outstanding at once.
///
/// PostgresNIO does not stop a statement it has sent when the awaiting task is cancelled, so a
/// timeout cannot be a cancelled child task (a task group would still wait for it). The call runs
/// in a task of its own instead, and the caller waits on a continuation that the first of
/// result, timer or cancellation resumes. A result that arrives after the caller gave up goes to
/// `abandoned`, so that, for example, a lease granted too late is given back rather than held by
/// nobody. Abandoned calls still count against `limit` until their statement ends: a database
/// that stopped answering makes new calls fail at once instead of piling up behind it.
final class DatabaseCallGate: Sendable {
    let limit: Int
    private let inFlight = NIOLockedValueBox(0)

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    var callsInFlight: Int { inFlight.withLockedValue { $0 } }

    func run<T: Sendable>(
        _ operation: String,
        timeout: Duration,
        abandoned: @escaping @Sendable (T) async -> Void = { _ in },
        _ body: @escaping @Sendable () async throws -> T
    ) async throws(FleetStateError) -> T {
        let admitted = inFlight.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
        guard admitted else { throw .overloaded(operation: operation, callsInFlight: limit) }

        let outcome = CallOutcome<T>()
        let timer = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { outcome.resolve(.failure(.timedOut(operation: operation, after: timeout))) }
        }
        Task {
            let result: Result<T, FleetStateError>
            do { result = .success(try await body()) } catch { result = .failure(.wrap(error, operation: operation)) }
            timer.cancel()
            // Before the caller can see the result: a caller that makes its next call at once
            // must find this one's slot free.
            self.inFlight.withLockedValue { $0 -= 1 }
            if !outcome.resolve(result), case .success(let late) = result { await abandoned(late) }
        }
        let result = await withTaskCancellationHandler {
            await outcome.wait()
        } onCancel: {
            outcome.resolve(.failure(.database(operation: operation, detail: "cancelled")))
        }
        return try result.get()
    }
}

/// The first of result, timeout and cancellation; resolving is a no-op after that.
private final class CallOutcome<T: Sendable>: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<Result<T, FleetStateError>, Never>)
        case resolved(Result<T, FleetStateError>)
        case delivered
    }

    private let state = NIOLockedValueBox(State.pending)

    /// Returns whether this was the first resolution, the one the caller sees.
    @discardableResult
    func resolve(_ result: Result<T, FleetStateError>) -> Bool {
        let (first, continuation): (Bool, CheckedContinuation<Result<T, FleetStateError>, Never>?) = state.withLockedValue { state in
            switch state {
            case .pending:
                state = .resolved(result)
                return (true, nil)
            case .waiting(let continuation):
                state = .delivered
                return (true, continuation)
            case .resolved, .delivered:
                return (false, nil)
            }
        }
        // Outside the lock: resuming may run the waiter inline.
        continuation?.resume(returning: result)
        return first
    }

    func wait() async -> Result<T, FleetStateError> {
        await withCheckedContinuation { continuation in
            let ready: Result<T, FleetStateError>? = state.withLockedValue { state in
                switch state {
                case .pending:
                    state = .waiting(continuation)
                    return nil
                case .resolved(let result):
                    state = .delivered
                    return result
                case .waiting, .delivered:
                    preconditionFailure("CallOutcome.wait called twice")
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
