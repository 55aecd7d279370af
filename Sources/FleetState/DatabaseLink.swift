import Foundation

/// The database as one of a replica's background users last found it: connected, or degraded
/// since a failed call, retried after a backoff that doubles to a cap and resets on success.
/// Callers log on the transitions it reports, so an outage is logged once, not per call.
struct DatabaseLink: Sendable {
    private(set) var state = FleetQuotaState.connected
    private var backoff: Duration
    private var nextAttempt = Date.distantPast
    private let initialBackoff: Duration
    private let maximumBackoff: Duration

    init(initialBackoff: Duration, maximumBackoff: Duration) {
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.backoff = initialBackoff
    }

    func mayAttempt(at now: Date) -> Bool {
        state.isConnected || now >= nextAttempt
    }

    /// A call succeeded. Returns when the outage it ended began, if it ended one.
    mutating func reached() -> Date? {
        defer {
            state = .connected
            backoff = initialBackoff
            nextAttempt = .distantPast
        }
        if case .degraded(_, let since) = state { return since }
        return nil
    }

    /// A call failed. Returns whether this began an outage.
    mutating func failed(_ error: FleetStateError, at now: Date) -> Bool {
        let first = state.isConnected
        if first { state = .degraded(reason: error.description, since: now) }
        nextAttempt = now.addingTimeInterval(FleetQuotaLeases.seconds(backoff))
        backoff = min(backoff * 2, maximumBackoff)
        return first
    }
}
