import NIOCore
import Resilience

/// One account's upstream connections. `UpstreamPoolStateMachine` decides; this class holds it
/// under a lock (the `WaitingRoom`'s, shared with the waiters' continuations and timeouts) and
/// carries out its answers outside the lock: lending, opening, closing, QUIT, waking waiters.
/// A transaction that finds the pool at its cap waits, bounded by `acquireTimeout` and ended
/// early by cancellation.
public final class UpstreamPool<Connection: PooledConnection>: Sendable {
    typealias Machine = UpstreamPoolStateMachine<Connection>

    public let configuration: Configuration
    private let room: WaitingRoom<Machine, Machine.Grant>
    private let opener: @Sendable (_ on: (any EventLoop)?) async throws(RelayFailure) -> Connection
    private let now: @Sendable () -> ContinuousClock.Instant

    /// - Parameter timeouts: where waits time out; `timerLoop` unless a test drives them by hand.
    public init(configuration: Configuration, timerLoop: any EventLoop,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
                timeouts: (any TimeoutScheduler)? = nil,
                opener: @escaping @Sendable (_ on: (any EventLoop)?) async throws(RelayFailure) -> Connection) {
        self.configuration = configuration
        room = WaitingRoom(Machine(configuration: configuration), timeouts: timeouts ?? EventLoopTimeouts(loop: timerLoop))
        self.now = now
        self.opener = opener
    }

    public var counts: (idle: Int, busy: Int, waiting: Int) {
        room.read { $0.counts }
    }

    /// The connections allowed now: the configured cap, less any reduction in force.
    public var currentCap: Int {
        let instant = now()
        return room.update { machine, _ in machine.currentCap(now: instant) }
    }

    /// The provider said the mailbox has too many connections (Microsoft's 432 4.3.2): run one
    /// connection fewer (never below one) for `duration`; each further refusal lowers it again
    /// and extends the period. Idle connections over the new cap are closed now, busy ones when
    /// they are released.
    public func lowerCap(for duration: Duration) {
        let instant = now()
        closeAll(room.update { machine, _ in machine.lowerCap(for: duration, now: instant) })
    }

    /// Runs at most `cap` connections until `until`, as another replica of the fleet does after
    /// its provider refused one too many (see the state machine's `lowerCap(to:until:now:)`).
    public func lowerCap(to cap: Int, until: ContinuousClock.Instant) {
        let instant = now()
        closeAll(room.update { machine, _ in machine.lowerCap(to: cap, until: until, now: instant) })
    }

    /// `preferring`: the caller's event loop. An idle connection there comes first; then, while
    /// under the cap, a new connection there; then any idle one. Without it, any idle one first.
    /// A session and its upstream on one thread relay without a hop per command.
    public func acquire(preferring loop: (any EventLoop)? = nil) async throws(RelayFailure) -> Lease {
        let instant = now()
        let loopID = loop.map { ObjectIdentifier($0) }
        var stale: [Connection] = []
        let grant = try await room.wait(timeout: configuration.acquireTimeout) { machine, id in
            let action = machine.acquire(preferring: loopID, as: id, now: instant)
            stale = action.stale
            return action.decision.admission
        } afterAdmission: {
            closeAll(stale)
        }
        switch grant {
        case .lease(let lease): return lease
        case .open: return try await openConnection(on: loop)
        }
    }

    /// An idle connection on `loop` if there is one now, without waiting or opening; nil sends
    /// the caller to `acquire`, which applies the whole preference order.
    public func takeIdle(preferring loop: (any EventLoop)?) -> Lease? {
        guard let loop else { return nil }
        let instant = now()
        return room.update { machine, _ in machine.takeIdle(on: ObjectIdentifier(loop), now: instant) }
    }

    /// Gives a connection back. `reusable: false` closes it (errors, aborted DATA, 421).
    public func release(_ lease: Lease, reusable: Bool) {
        let instant = now()
        let action = room.update { machine, waiters in
            let action = machine.release(lease, reusable: reusable, now: instant)
            switch action {
            case .handOff(let lease, let next): waiters.grant(.lease(lease), to: next)
            case .close(_, let next?): waiters.grant(.open, to: next)
            case .close(_, nil), .keepIdle: break
            }
            return action
        }
        if case .close(let connection, _) = action { connection.close() }
    }

    /// Closes idle connections that outlived their welcome; called periodically.
    public func sweep() {
        let instant = now()
        closeAll(room.update { machine, _ in machine.sweep(now: instant) })
    }

    /// The account's configuration changed: idle connections get QUIT now, busy ones are closed
    /// when their transaction ends, and transactions already waiting are still served.
    public func retire() async {
        await quitAll(room.update { machine, _ in machine.retire() })
    }

    /// Stops lending: idle connections get QUIT, waiters hear `shuttingDown`.
    public func close() async {
        let idle = room.update { machine, waiters in
            let action = machine.close()
            for id in action.turnAway { waiters.fail(id, with: .shuttingDown) }
            return action.quit
        }
        await quitAll(idle)
    }

    private func openConnection(on loop: (any EventLoop)?) async throws(RelayFailure) -> Lease {
        do {
            let connection = try await opener(loop)
            return Machine.opened(connection)
        } catch {
            let instant = now()
            room.update { machine, waiters in
                if let next = machine.openFailed(now: instant) { waiters.grant(.open, to: next) }
            }
            throw error
        }
    }

    private func closeAll(_ connections: [Connection]) {
        for connection in connections { connection.close() }
    }

    private func quitAll(_ connections: [Connection]) async {
        await withTaskGroup(of: Void.self) { group in
            for connection in connections { group.addTask { await connection.quit() } }
        }
    }
}

extension UpstreamPoolStateMachine.AcquireAction.Decision {
    var admission: WaitAdmission<UpstreamPoolStateMachine.Grant, RelayFailure> {
        switch self {
        case .lend(let lease): .now(.success(.lease(lease)))
        case .open: .now(.success(.open))
        case .wait: .wait
        case .fail(let failure): .now(.failure(failure))
        }
    }
}
