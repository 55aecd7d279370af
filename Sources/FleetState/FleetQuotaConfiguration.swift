/// How a replica spends the fleet's quotas: how much it asks for, when, and what it allows itself
/// while the database is away.
public struct FleetQuotaConfiguration: Sendable {
    /// The expected number of replicas. A lease is about 1/N of what is left; without the
    /// database a replica allows itself limit / N per window (the local share).
    public var fleetSizeHint: Int
    /// How long a lease may be spent from; the grant counts until a window after it ends.
    public var leaseDuration: Duration = .seconds(10)
    /// Asks for the next lease once what the held ones have left is this fraction of the last
    /// grant or less, so that messages rarely find the balance empty.
    public var refillBelow = 0.25
    /// What a message waits, at most, for a lease when the balance is empty; also each lease
    /// call's bound. Past it the message is decided by the local share.
    public var maximumWait: Duration = .milliseconds(50)
    /// The largest grant asked for (a dead replica loses its outstanding lease for a window).
    public var maximumBlock = Int.max
    /// Held leases untouched this long are given back for the other replicas.
    public var idleAfter: Duration = .seconds(5)
    /// Retries of an unreachable database: the first after `initialBackoff`, doubling to `maximumBackoff`.
    public var initialBackoff: Duration = .milliseconds(500)
    public var maximumBackoff: Duration = .seconds(30)

    public init(fleetSizeHint: Int) {
        self.fleetSizeHint = fleetSizeHint
    }

    /// What one replica allows itself per window without the database; 0 leaves a limit smaller
    /// than the fleet to the leases alone.
    func localShare(of limit: Int) -> Int {
        max(0, limit) / max(1, fleetSizeHint)
    }
}
