import Resilience

/// What the pool's executor does after each event of `UpstreamPoolStateMachine`, outside its lock.
extension UpstreamPoolStateMachine {
    /// What a caller or a waiter is given.
    enum Grant: Sendable {
        case lease(Lease)
        /// A slot is reserved: open a connection, on the caller's own loop.
        case open
    }

    struct AcquireAction {
        enum Decision {
            case lend(Lease)
            case open
            /// The caller was queued under its waiter id.
            case wait
            case fail(RelayFailure)
        }

        var decision: Decision
        /// Idle connections found unfit for reuse on the way: close them.
        var stale: [Connection] = []
    }

    enum ReleaseAction {
        /// Kept for the next caller.
        case keepIdle
        /// Lent on at once to the longest waiter.
        case handOff(Lease, to: WaiterID)
        /// Close the connection; its slot, if the pool is still under its cap, goes to `slotTo`,
        /// which opens a connection of its own.
        case close(Connection, slotTo: WaiterID?)
    }

    struct CloseAction {
        /// Idle connections to end politely with QUIT.
        var quit: [Connection]
        /// Waiters that hear `shuttingDown`.
        var turnAway: [WaiterID]
    }
}
