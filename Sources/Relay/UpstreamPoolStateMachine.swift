import Resilience

/// Every decision of an `UpstreamPool`, with no lock, socket, task or clock: one mutating method
/// per event, each answering with what the executor must do. Time comes in with the events, so
/// tests drive it by hand.
///
/// At most `maxConnections` open (fewer while the provider pushes back), idle connections reused
/// without a round trip, retired by age, token expiry, message count or error; callers beyond
/// the cap wait in arrival order.
struct UpstreamPoolStateMachine<Connection: PooledConnection>: Sendable {
    typealias Configuration = UpstreamPool<Connection>.Configuration
    typealias Lease = UpstreamPool<Connection>.Lease

    private struct Idle: Sendable {
        var connection: Connection
        var messagesSent: Int
        var needsReset: Bool
        var since: ContinuousClock.Instant

        func isReusable(under configuration: Configuration, now: ContinuousClock.Instant) -> Bool {
            connection.isActive
                && messagesSent < configuration.maxMessagesPerConnection
                && now - since < configuration.idleTimeout
                && now + configuration.tokenExpirySafety < connection.tokenExpiresAt
        }
    }

    let configuration: Configuration
    private var idle: [Idle] = []
    /// Open plus being opened.
    private var open = 0
    private var waiters = WaiterQueue<Void>()
    private var closed = false
    /// Replaced by a reload: lends to those already waiting, keeps nothing idle.
    private var retiring = false
    /// The provider refused a connection as one too many: run this many short until then.
    private var capReduction = 0
    private var capRestoresAt: ContinuousClock.Instant?

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    var counts: (idle: Int, busy: Int, waiting: Int) {
        (idle.count, open - idle.count, waiters.count)
    }

    /// The connections allowed now: the configured cap, less any reduction still in force.
    mutating func currentCap(now: ContinuousClock.Instant) -> Int {
        if let restoresAt = capRestoresAt, now >= restoresAt {
            capReduction = 0
            capRestoresAt = nil
        }
        return max(1, configuration.maxConnections - capReduction)
    }

    /// `preferring`: the caller's event loop. An idle connection there comes first; then, while
    /// under the cap, a new connection there; then any idle one. Without it, any idle one first.
    /// A session and its upstream on one thread relay without a hop per command.
    mutating func acquire(preferring loop: ObjectIdentifier?, as waiter: WaiterID,
                          now: ContinuousClock.Instant) -> AcquireAction {
        if closed { return AcquireAction(decision: .fail(.shuttingDown)) }
        let stale = dropUnfitIdle(now: now)
        var chosen = loop.map { loop in idle.lastIndex { $0.connection.eventLoopID == loop } } ?? idle.indices.last
        if chosen == nil {
            if open < currentCap(now: now) {
                open += 1
                return AcquireAction(decision: .open, stale: stale)
            }
            chosen = idle.indices.last
        }
        guard let index = chosen else {
            waiters.append(waiter, ())
            return AcquireAction(decision: .wait, stale: stale)
        }
        return AcquireAction(decision: .lend(lendIdle(at: index, now: now)), stale: stale)
    }

    /// An idle connection on `loop`, fit for use, without opening or waiting: the relay's
    /// per-message fast path. Nil sends the caller to `acquire`, which also clears out unfit
    /// idle connections and applies the whole preference order.
    mutating func takeIdle(on loop: ObjectIdentifier, now: ContinuousClock.Instant) -> Lease? {
        let configuration = configuration
        guard !closed, waiters.isEmpty,
              let index = idle.lastIndex(where: { $0.connection.eventLoopID == loop && $0.isReusable(under: configuration, now: now) })
        else { return nil }
        return lendIdle(at: index, now: now)
    }

    /// The idle connection at `index`, out of the idle list and lent as it was left.
    private mutating func lendIdle(at index: Int, now: ContinuousClock.Instant) -> Lease {
        let entry = idle.remove(at: index)
        return Lease(connection: entry.connection, messagesSent: entry.messagesSent,
                     needsReset: entry.needsReset, idleFor: now - entry.since)
    }

    /// A connection opened for a reserved slot goes to whoever reserved it, even if the pool
    /// closed meanwhile: its release then closes it.
    static func opened(_ connection: Connection) -> Lease {
        Lease(connection: connection, messagesSent: 0, needsReset: false, idleFor: nil)
    }

    /// The slot reserved for the failed open is free again: a waiter may try its own luck.
    mutating func openFailed(now: ContinuousClock.Instant) -> WaiterID? {
        slotFreed(now: now)
    }

    /// `reusable: false` closes the connection (errors, aborted DATA, 421).
    mutating func release(_ lease: Lease, reusable: Bool, now: ContinuousClock.Instant) -> ReleaseAction {
        let keep = reusable && lease.messagesSent < configuration.maxMessagesPerConnection
            && lease.connection.isActive && !closed && !retiring && open <= currentCap(now: now)
        guard keep else { return .close(lease.connection, slotTo: slotFreed(now: now)) }
        if let next = waiters.popFirst() {
            var handed = lease
            handed.idleFor = .zero
            return .handOff(handed, to: next.id)
        }
        idle.append(Idle(connection: lease.connection, messagesSent: lease.messagesSent,
                         needsReset: lease.needsReset, since: now))
        return .keepIdle
    }

    /// Idle connections that outlived their welcome, to close.
    mutating func sweep(now: ContinuousClock.Instant) -> [Connection] {
        dropUnfitIdle(now: now)
    }

    /// The provider said the mailbox has too many connections (Microsoft's 432 4.3.2): run one
    /// connection fewer (never below one) for `duration`; each further refusal lowers it again
    /// and extends the period. Returns the idle connections over the new cap, to close now;
    /// busy ones are closed when they are released.
    mutating func lowerCap(for duration: Duration, now: ContinuousClock.Instant) -> [Connection] {
        if currentCap(now: now) > 1 { capReduction += 1 }
        capRestoresAt = now + duration
        return idleOverCap(now: now)
    }

    /// Another replica's provider refused a connection as one too many and that replica now runs
    /// `cap`: run at most as many (never below one) until `until`. A reduction in force is never
    /// lifted early nor made shallower; a `cap` above the current one changes nothing. Returns
    /// the idle connections over the new cap, to close now.
    mutating func lowerCap(to cap: Int, until: ContinuousClock.Instant, now: ContinuousClock.Instant) -> [Connection] {
        let target = max(1, cap)
        guard until > now, target <= currentCap(now: now) else { return [] }
        capReduction = max(capReduction, configuration.maxConnections - target)
        capRestoresAt = max(capRestoresAt ?? until, until)
        return idleOverCap(now: now)
    }

    private mutating func idleOverCap(now: ContinuousClock.Instant) -> [Connection] {
        let cap = currentCap(now: now)
        var surplus: [Connection] = []
        while open > cap, let entry = idle.popLast() {
            open -= 1
            surplus.append(entry.connection)
        }
        return surplus
    }

    /// The account's configuration changed: returns the idle connections, to QUIT; busy ones
    /// are closed when released, and callers already waiting are still served.
    mutating func retire() -> [Connection] {
        retiring = true
        return takeIdle()
    }

    /// Stops lending: idle connections get QUIT, waiters hear `shuttingDown`.
    mutating func close() -> CloseAction {
        closed = true
        return CloseAction(quit: takeIdle(), turnAway: waiters.removeAll().map(\.id))
    }

    /// What a waiter whose time ran out hears; nil if it was already served.
    mutating func waiterTimedOut(_ id: WaiterID) -> RelayFailure? {
        waiters.remove(id) == nil ? nil : .poolExhausted
    }

    /// What a waiter whose task was cancelled hears; nil if it was already served. The same as a
    /// timeout, so the client's reply does not depend on why the wait ended early.
    mutating func waiterCancelled(_ id: WaiterID) -> RelayFailure? {
        waiters.remove(id) == nil ? nil : .poolExhausted
    }

    private mutating func dropUnfitIdle(now: ContinuousClock.Instant) -> [Connection] {
        let configuration = configuration
        var unfit: [Connection] = []
        idle.removeAll { entry in
            if entry.isReusable(under: configuration, now: now) { return false }
            unfit.append(entry.connection)
            return true
        }
        open -= unfit.count
        return unfit
    }

    /// A connection closed or never opened: its slot goes to the longest waiter while the pool is
    /// under its cap, else it is given up.
    private mutating func slotFreed(now: ContinuousClock.Instant) -> WaiterID? {
        open -= 1
        guard open < currentCap(now: now), let next = waiters.popFirst() else { return nil }
        open += 1
        return next.id
    }

    private mutating func takeIdle() -> [Connection] {
        let connections = idle.map(\.connection)
        open -= idle.count
        idle = []
        return connections
    }
}

extension UpstreamPoolStateMachine: WaitingState {
    mutating func abandon(_ id: WaiterID, because reason: WaitAbandonment) -> RelayFailure? {
        switch reason {
        case .timedOut: waiterTimedOut(id)
        case .cancelled: waiterCancelled(id)
        }
    }
}
