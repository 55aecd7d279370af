/// How a replica shares its pushbacks: how often it looks for the others', and what it allows
/// itself in memory and in waiting while the database is slow or away.
public struct FleetPushbacksConfiguration: Sendable {
    /// How often the rows changed by other replicas are read: the delay before a pushback seen
    /// elsewhere applies here.
    public var pollInterval: Duration = .seconds(1)
    /// Each publish and poll call's bound. Neither is on the message path; the bound keeps a
    /// slow database from holding the poll loop.
    public var callTimeout: Duration = .seconds(1)
    /// Pushbacks waiting to be written (one per account and kind, repeats merged); a new key
    /// past it is dropped and counted, the local limiter having applied it anyway.
    public var maximumPending = 1024
    /// Rows read per call; a poll reads up to `maximumPagesPerPoll` of them.
    public var pageSize = 500
    public var maximumPagesPerPoll = 8
    /// Retries of an unreachable database: the first after `initialBackoff`, doubling to `maximumBackoff`.
    public var initialBackoff: Duration = .seconds(1)
    public var maximumBackoff: Duration = .seconds(30)

    public init() {}
}
