/// What a replica asks for when its lease on a window runs out.
public struct QuotaLeaseRequest: Sendable, Hashable {
    /// The account's email: the key every replica shares, whatever its local account ID.
    public var account: String
    public var window: QuotaWindow
    /// The account's limit for the window; 0 or less leases nothing.
    public var limit: Int
    /// The expected number of replicas: a grant is about 1/N of what is left, so N replicas
    /// sharing the window all get some before it runs out.
    public var fleetSizeHint: Int
    /// The smallest useful grant (a message with five recipients wants five), if that much is left.
    public var atLeast: Int = 1
    /// The largest grant. A replica that dies loses its outstanding lease for a window after
    /// the lease's expiry, so long windows (a day) want a cap.
    public var maximumBlock: Int = .max
    /// How long the replica may spend from the lease before it must give back the rest and ask
    /// again; so leftovers move to the replicas that are sending. The grant counts until a
    /// window after the lease ends, so short leases keep a message's count close to the window.
    public var duration: Duration = .seconds(30)

    public init(account: String, window: QuotaWindow, limit: Int, fleetSizeHint: Int) {
        self.account = account
        self.window = window
        self.limit = limit
        self.fleetSizeHint = fleetSizeHint
    }
}
