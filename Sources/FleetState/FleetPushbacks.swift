import Foundation
import Logging
import NIOConcurrencyHelpers

/// One replica's side of the fleet's pushbacks: what its providers told it about an account
/// (quota spent, slow down, credentials refused, one connection too many) goes to the database,
/// and what the other replicas' providers told them comes back, every `pollInterval`, to `apply`.
///
/// Invariants:
/// - `publish` never waits: it merges into a bounded set of pending rows (one per account and
///   kind) and at most one writer task at a time drains them, each call bounded by `callTimeout`.
/// - A pushback is handed to `apply` only if it would change something here: rows this replica
///   wrote, or already applied, are not applied again; and `publish` drops what the fleet already
///   has in force here, so a pushback applied from the database is never written back (no echo).
/// - A later `until` extends, an earlier one never shortens (`FleetPushback.merged`), here and in
///   the database alike.
/// - Database away: the local limiters work as without a fleet; pending rows wait (bounded) and
///   are written once it answers again; the change is logged once each way.
public final class FleetPushbacks: Sendable {
    public let configuration: FleetPushbacksConfiguration
    let database: FleetDatabase
    let apply: @Sendable ([FleetPushback]) -> Void
    let now: @Sendable () -> Date
    let logger: Logger
    let shared: NIOLockedValueBox<Shared>

    struct Key: Hashable, Sendable {
        var account: String
        var kind: FleetPushback.Kind

        init(_ pushback: FleetPushback) {
            account = pushback.account
            kind = pushback.kind
        }
    }

    struct Shared: Sendable {
        /// Seen here and not written yet.
        var pending: [Key: FleetPushback] = [:]
        /// In force here as far as the fleet goes: published by this replica or applied from the
        /// database. What it covers is neither written nor applied again.
        var known: [Key: FleetPushback] = [:]
        /// The highest change sequence read.
        var cursor = 0
        /// A writer task runs; `inFlight` is what it is writing.
        var writing = false
        var inFlight: FleetPushback?
        var link: DatabaseLink
        var statistics = FleetPushbackStatistics()
    }

    /// - Parameters:
    ///   - apply: gets the pushbacks other replicas saw, on the poll loop's task; it must not block.
    ///   - now: the wall clock (`until` crosses machines); injected by tests.
    public init(database: FleetDatabase, configuration: FleetPushbacksConfiguration = .init(), logger: Logger,
                now: @escaping @Sendable () -> Date = { Date() },
                apply: @escaping @Sendable ([FleetPushback]) -> Void) {
        self.database = database
        self.configuration = configuration
        self.logger = logger
        self.now = now
        self.apply = apply
        self.shared = NIOLockedValueBox(Shared(link: DatabaseLink(initialBackoff: configuration.initialBackoff,
                                                                  maximumBackoff: configuration.maximumBackoff)))
    }

    public var replicaID: String { database.configuration.replicaID }
    public var state: FleetQuotaState { shared.withLockedValue { $0.link.state } }
    public var statistics: FleetPushbackStatistics { shared.withLockedValue { $0.statistics } }
    /// Pushbacks not written yet, one being written included (a failed write puts it back).
    public var unwritten: Int { shared.withLockedValue { $0.pending.count + ($0.inFlight == nil ? 0 : 1) } }

    /// Tells the fleet about a pushback this replica's provider gave. Returns at once; the write
    /// happens in a task of its own, or at the next poll while the database is away.
    public func publish(_ pushback: FleetPushback) {
        let now = now()
        var pushback = pushback
        pushback.replica = replicaID
        let startWriter: Bool = shared.withLockedValue { shared in
            shared.statistics.published += 1
            let key = Key(pushback)
            if let known = shared.known[key], known.covers(pushback, at: now) {
                shared.statistics.coalesced += 1
                return false
            }
            if let waiting = shared.pending[key] {
                shared.pending[key] = waiting.merged(with: pushback, at: now)
                shared.statistics.coalesced += 1
            } else if shared.pending.count < configuration.maximumPending {
                shared.pending[key] = pushback
            } else {
                shared.statistics.dropped += 1
                return false
            }
            shared.known[key] = shared.known[key].map { $0.merged(with: pushback, at: now) } ?? pushback
            guard !shared.writing, shared.link.mayAttempt(at: now) else { return false }
            shared.writing = true
            return true
        }
        if startWriter {
            Task { await self.drainPending(alreadyWriting: true) }
        }
    }
}

/// Counts since start, for metrics and tests.
public struct FleetPushbackStatistics: Sendable, Hashable {
    /// `publish` calls, and those that changed nothing the fleet did not have already.
    public var published = 0
    public var coalesced = 0
    /// Past `maximumPending`: applied here only.
    public var dropped = 0
    /// Rows written that changed the database's row, and calls that failed.
    public var written = 0
    public var writeFailures = 0
    /// Polls that read the database, those that failed, and pushbacks handed to `apply`.
    public var polls = 0
    public var pollFailures = 0
    public var applied = 0

    public init() {}
}
