/// The decisions of one refresh through a `SharedTokenStore`, as pure functions of what the store
/// answered, so that they are tested without a database.
///
/// A refresh first reads the row: a token the cache may hand out is used. Otherwise it takes the
/// lease; the winner refreshes and publishes, the others poll until a token they may use comes,
/// or the lease is free again (the winner failed or died: then they take it), or `deadline`
/// passes. Then, and whenever the store fails, the replica refreshes by itself.
struct SharedRefreshPlan: Sendable {
    enum Step: Sendable, Hashable {
        case use(SharedAccessToken)
        case takeLease(seenGeneration: Int64)
        case refresh(generation: Int64)
        case poll(after: Int64)
        case refreshAlone
    }

    /// The expiry margin of the cache.
    var margin: Duration
    /// A token value the caller's upstream refused: never used again, even when shared.
    var refused: String?

    func afterRead(_ row: SharedTokenRow?) -> Step {
        if let token = usable(row) { return .use(token) }
        return .takeLease(seenGeneration: row?.generation ?? 0)
    }

    func afterLease(_ lease: SharedRefreshLease) -> Step {
        switch lease {
        case .taken(let generation): .refresh(generation: generation)
        case .heldByAnother(let generation): .poll(after: generation)
        }
    }

    func afterPoll(_ row: SharedTokenRow?, baseline: Int64, now: ContinuousClock.Instant, deadline: ContinuousClock.Instant) -> Step {
        if let token = usable(row) { return .use(token) }
        guard let row, now < deadline else { return .refreshAlone }
        if row.refreshLeaseHeld { return .poll(after: baseline) }
        // Nobody refreshes any more (the holder failed and released the lease, or died and it
        // ran out) and no usable token came: this replica becomes the refresher.
        return .takeLease(seenGeneration: row.generation)
    }

    private func usable(_ row: SharedTokenRow?) -> SharedAccessToken? {
        guard let token = row?.token, token.value != refused else { return nil }
        return Self.isFresh(expiresIn: token.expiresIn, lifetime: token.lifetime, margin: margin) ? token : nil
    }

    /// The cache's rule (see `TokenCache.Configuration.expiryMargin`) for a token with
    /// `expiresIn` left out of `lifetime`: handed out until the margin before expiry, or until
    /// half its life for one that lives shorter than twice the margin.
    static func isFresh(expiresIn: Duration, lifetime: Duration, margin: Duration) -> Bool {
        guard expiresIn > .zero else { return false }
        let age = lifetime - expiresIn
        return expiresIn > margin || age < lifetime / 2
    }
}
