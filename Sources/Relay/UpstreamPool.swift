import NIOConcurrencyHelpers
import NIOCore

/// What the pool needs of a connection; a protocol so the pool is tested without sockets.
public protocol PooledConnection: Sendable {
    var isActive: Bool { get }
    /// Providers end sessions whose token expired, so connections retire before then.
    var tokenExpiresAt: ContinuousClock.Instant { get }
    func close()
    func quit() async
    /// The thread the connection lives on; a session on the same loop uses it without hops.
    var eventLoop: (any EventLoop)? { get }
}

extension PooledConnection {
    public var eventLoop: (any EventLoop)? { nil }
}

/// One account's upstream connections: at most `maxConnections` open, idle ones reused
/// without a round trip, retired by age, token expiry, message count or error. A transaction
/// that finds the pool at its cap waits, bounded by `acquireTimeout`.
public final class UpstreamPool<Connection: PooledConnection>: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var maxConnections: Int
        public var maxMessagesPerConnection: Int
        public var idleTimeout: Duration = .seconds(300)
        public var acquireTimeout: Duration = .seconds(30)
        /// Retire a connection this long before its token expires.
        public var tokenExpirySafety: Duration = .seconds(60)

        public init(maxConnections: Int, maxMessagesPerConnection: Int) {
            self.maxConnections = max(1, maxConnections)
            self.maxMessagesPerConnection = max(1, maxMessagesPerConnection)
        }
    }

    /// A connection lent to one transaction; give it back with `release`.
    public struct Lease: Sendable {
        public let connection: Connection
        public var messagesSent: Int
        /// The last user left a transaction open upstream: send RSET before MAIL.
        public var needsReset: Bool
        /// How long it sat idle before this lease; nil for a new connection.
        public var idleFor: Duration?
    }

    private struct Idle {
        var connection: Connection
        var messagesSent: Int
        var needsReset: Bool
        var since: ContinuousClock.Instant
    }

    private enum Grant {
        case lease(Lease)
        /// A slot freed up: the waiter may open a connection itself.
        case slot
    }

    private struct Waiter {
        var continuation: CheckedContinuation<Grant, any Error>
        var timer: Scheduled<Void>?
    }

    private struct State {
        var idle: [Idle] = []
        /// Open plus being opened.
        var open = 0
        var waiters: [UInt64: Waiter] = [:]
        var waiterOrder: CircularBuffer<UInt64> = []
        var nextWaiterID: UInt64 = 0
        var closed = false
        /// Replaced by a reload: lends to those already waiting, keeps nothing idle.
        var retiring = false
        /// The provider refused a connection as one too many: run this many short until then.
        var capReduction = 0
        var capRestoresAt: ContinuousClock.Instant?

        mutating func cap(configured: Int, now: ContinuousClock.Instant) -> Int {
            if let restoresAt = capRestoresAt, now >= restoresAt {
                capReduction = 0
                capRestoresAt = nil
            }
            return max(1, configured - capReduction)
        }
    }

    public let configuration: Configuration
    private let state = NIOLockedValueBox(State())
    private let opener: @Sendable (_ on: (any EventLoop)?) async throws(RelayFailure) -> Connection
    private let timerLoop: any EventLoop
    private let now: @Sendable () -> ContinuousClock.Instant

    public init(configuration: Configuration, timerLoop: any EventLoop,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
                opener: @escaping @Sendable (_ on: (any EventLoop)?) async throws(RelayFailure) -> Connection) {
        self.configuration = configuration
        self.timerLoop = timerLoop
        self.now = now
        self.opener = opener
    }

    public var counts: (idle: Int, busy: Int, waiting: Int) {
        state.withLockedValue { ($0.idle.count, $0.open - $0.idle.count, $0.waiters.count) }
    }

    /// The connections allowed now: the configured cap, less any reduction in force.
    public var currentCap: Int {
        let instant = self.now()
        return state.withLockedValue { $0.cap(configured: configuration.maxConnections, now: instant) }
    }

    /// The provider said the mailbox has too many connections (Microsoft's 432 4.3.2): run one
    /// connection fewer (never below one) for `duration`; each further refusal lowers it again
    /// and extends the period. Idle connections over the new cap are closed now, busy ones when
    /// they are released.
    public func lowerCap(for duration: Duration) {
        let instant = self.now()
        let surplus: [Connection] = state.withLockedValue { state in
            let cap = state.cap(configured: configuration.maxConnections, now: instant)
            if cap > 1 { state.capReduction += 1 }
            state.capRestoresAt = instant + duration
            let newCap = state.cap(configured: configuration.maxConnections, now: instant)
            var surplus: [Connection] = []
            while state.open > newCap, let entry = state.idle.popLast() {
                state.open -= 1
                surplus.append(entry.connection)
            }
            return surplus
        }
        for connection in surplus { connection.close() }
    }

    private enum AcquireStep {
        case lease(Lease)
        case open
        case wait
    }

    /// `preferring`: the caller's event loop. An idle connection there comes first; then, while
    /// under the cap, a new connection there; then any idle one. Without it, any idle one first.
    /// A session and its upstream on one thread relay without a hop per command.
    public func acquire(preferring loop: (any EventLoop)? = nil) async throws(RelayFailure) -> Lease {
        var retired: [Connection] = []
        let instant = self.now()
        let step: AcquireStep = state.withLockedValue { state in
            if state.closed { return .wait }
            state.idle.removeAll { entry in
                if isReusable(entry, now: instant) { return false }
                state.open -= 1
                retired.append(entry.connection)
                return true
            }
            var chosen = loop.map { loop in state.idle.lastIndex { $0.connection.eventLoop === loop } } ?? state.idle.indices.last
            if chosen == nil {
                if state.open < state.cap(configured: configuration.maxConnections, now: instant) {
                    state.open += 1
                    return .open
                }
                chosen = state.idle.indices.last
            }
            guard let index = chosen else { return .wait }
            let entry = state.idle.remove(at: index)
            return .lease(Lease(connection: entry.connection, messagesSent: entry.messagesSent,
                                needsReset: entry.needsReset, idleFor: instant - entry.since))
        }
        for connection in retired { connection.close() }
        switch step {
        case .lease(let lease):
            return lease
        case .open:
            return try await openConnection(on: loop)
        case .wait:
            if state.withLockedValue({ $0.closed }) { throw .shuttingDown }
            switch try await waitForGrant() {
            case .lease(let lease): return lease
            case .slot: return try await openConnection(on: loop)
            }
        }
    }

    /// An idle connection on `loop` if there is one now, without waiting or opening; nil sends
    /// the caller to `acquire`, which applies the whole preference order.
    public func takeIdle(preferring loop: (any EventLoop)?) -> Lease? {
        guard let loop else { return nil }
        let instant = self.now()
        return state.withLockedValue { state -> Lease? in
            guard !state.closed,
                  let index = state.idle.lastIndex(where: { $0.connection.eventLoop === loop && isReusable($0, now: instant) })
            else { return nil }
            let entry = state.idle.remove(at: index)
            return Lease(connection: entry.connection, messagesSent: entry.messagesSent,
                         needsReset: entry.needsReset, idleFor: instant - entry.since)
        }
    }

    /// Gives a connection back. `reusable: false` closes it (errors, aborted DATA, 421).
    public func release(_ lease: Lease, reusable: Bool) {
        let keep = reusable && lease.messagesSent < configuration.maxMessagesPerConnection
            && lease.connection.isActive
        var close = !keep
        let instant = self.now()
        let handOff: (CheckedContinuation<Grant, any Error>, Scheduled<Void>?, Grant)? = state.withLockedValue { state in
            let cap = state.cap(configured: configuration.maxConnections, now: instant)
            if state.closed || state.retiring || state.open > cap { close = true }
            if close { state.open -= 1 }
            // A closed connection frees a slot only if the pool is under its cap.
            if close, state.open >= cap { return nil }
            guard let waiter = popWaiter(&state) else {
                if !close {
                    state.idle.append(Idle(connection: lease.connection, messagesSent: lease.messagesSent,
                                           needsReset: lease.needsReset, since: instant))
                }
                return nil
            }
            if close {
                state.open += 1
                return (waiter.continuation, waiter.timer, .slot)
            }
            var handed = lease
            handed.idleFor = .zero
            return (waiter.continuation, waiter.timer, .lease(handed))
        }
        if close { lease.connection.close() }
        if let (continuation, timer, grant) = handOff {
            timer?.cancel()
            continuation.resume(returning: grant)
        }
    }

    /// Closes idle connections that outlived their welcome; called periodically.
    public func sweep() {
        let instant = now()
        let stale: [Connection] = state.withLockedValue { state in
            let (keep, drop) = state.idle.reduce(into: ([Idle](), [Idle]())) { result, entry in
                if isReusable(entry, now: instant) { result.0.append(entry) } else { result.1.append(entry) }
            }
            state.idle = keep
            state.open -= drop.count
            return drop.map(\.connection)
        }
        for connection in stale { connection.close() }
    }

    /// The account's configuration changed: idle connections get QUIT now, busy ones are closed
    /// when their transaction ends, and transactions already waiting are still served.
    public func retire() async {
        let idle: [Idle] = state.withLockedValue { state in
            state.retiring = true
            let idle = state.idle
            state.open -= idle.count
            state.idle = []
            return idle
        }
        await withTaskGroup(of: Void.self) { group in
            for entry in idle { group.addTask { await entry.connection.quit() } }
        }
    }

    /// Stops lending: idle connections get QUIT, waiters hear `shuttingDown`.
    public func close() async {
        let (idle, waiters) = state.withLockedValue { state -> ([Idle], [Waiter]) in
            state.closed = true
            let idle = state.idle
            state.open -= idle.count
            state.idle = []
            let waiters = Array(state.waiters.values)
            state.waiters = [:]
            state.waiterOrder = []
            return (idle, waiters)
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(throwing: RelayFailure.shuttingDown)
        }
        await withTaskGroup(of: Void.self) { group in
            for entry in idle { group.addTask { await entry.connection.quit() } }
        }
    }

    private func isReusable(_ entry: Idle, now current: ContinuousClock.Instant) -> Bool {
        return entry.connection.isActive
            && entry.messagesSent < configuration.maxMessagesPerConnection
            && current - entry.since < configuration.idleTimeout
            && current + configuration.tokenExpirySafety < entry.connection.tokenExpiresAt
    }

    private func openConnection(on loop: (any EventLoop)?) async throws(RelayFailure) -> Lease {
        do {
            let connection = try await opener(loop)
            return Lease(connection: connection, messagesSent: 0, needsReset: false, idleFor: nil)
        } catch {
            // The slot we reserved is free again; a waiter may try its own luck.
            let next: (CheckedContinuation<Grant, any Error>, Scheduled<Void>?)? = state.withLockedValue { state in
                guard let waiter = popWaiter(&state) else {
                    state.open -= 1
                    return nil
                }
                return (waiter.continuation, waiter.timer)
            }
            if let (continuation, timer) = next {
                timer?.cancel()
                continuation.resume(returning: .slot)
            }
            throw error
        }
    }

    private func waitForGrant() async throws(RelayFailure) -> Grant {
        do {
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let id: UInt64 = state.withLockedValue { state in
                    let id = state.nextWaiterID
                    state.nextWaiterID += 1
                    state.waiters[id] = Waiter(continuation: continuation, timer: nil)
                    state.waiterOrder.append(id)
                    return id
                }
                let timer = timerLoop.scheduleTask(in: TimeAmount(configuration.acquireTimeout)) { [self] in
                    let expired = state.withLockedValue { $0.waiters.removeValue(forKey: id) }
                    expired?.continuation.resume(throwing: RelayFailure.poolExhausted)
                }
                state.withLockedValue { state in
                    if state.waiters[id] != nil { state.waiters[id]?.timer = timer }
                }
            }
        } catch let failure as RelayFailure {
            throw failure
        } catch {
            throw .poolExhausted
        }
    }

    private func popWaiter(_ state: inout State) -> Waiter? {
        while let id = state.waiterOrder.popFirst() {
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
        }
        return nil
    }
}
