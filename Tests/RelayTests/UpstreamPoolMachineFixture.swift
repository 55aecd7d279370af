import Resilience
import Testing
@testable import Relay

/// Stands in for an event loop where only its identity matters.
final class LoopToken: Sendable {
    var id: ObjectIdentifier { ObjectIdentifier(self) }
}

/// An `UpstreamPoolStateMachine` driven by hand: time moves only when told, waiter ids and
/// connections are numbered in order.
struct MachineFixture {
    typealias Machine = UpstreamPoolStateMachine<FakeConnection>
    typealias Lease = Machine.Lease

    var machine: Machine
    var now = ContinuousClock.now
    let tokenLifetime: Duration
    private var nextWaiter: UInt64 = 0
    private(set) var opened: [FakeConnection] = []

    init(maxConnections: Int = 2, maxMessages: Int = 100, tokenLifetime: Duration = .seconds(3600)) {
        var configuration = Machine.Configuration(maxConnections: maxConnections, maxMessagesPerConnection: maxMessages)
        configuration.idleTimeout = .seconds(300)
        configuration.tokenExpirySafety = .seconds(60)
        machine = Machine(configuration: configuration)
        self.tokenLifetime = tokenLifetime
    }

    /// The acquire event under a fresh waiter id.
    mutating func acquire(on loop: LoopToken? = nil) -> (id: WaiterID, action: Machine.AcquireAction) {
        let id = WaiterID(nextWaiter)
        nextWaiter += 1
        return (id, machine.acquire(preferring: loop?.id, as: id, now: now))
    }

    /// A lease in hand: lent, or opened on `loop` when the machine says to open.
    mutating func lease(on loop: LoopToken? = nil) throws -> Lease {
        switch acquire(on: loop).action.decision {
        case .lend(let lease): return lease
        case .open: return open(on: loop)
        case .wait, .fail(_): throw NoLease()
        }
    }

    struct NoLease: Error {}

    /// What the executor does with a slot: opens a connection.
    mutating func open(on loop: LoopToken? = nil) -> Lease {
        let connection = FakeConnection(id: opened.count, tokenExpiresAt: now + tokenLifetime, loop: loop)
        opened.append(connection)
        return Machine.opened(connection)
    }

    mutating func advance(_ duration: Duration) {
        now += duration
    }
}

extension UpstreamPoolStateMachine.AcquireAction.Decision {
    var lease: UpstreamPoolStateMachine.Lease? {
        if case .lend(let lease) = self { lease } else { nil }
    }

    var opens: Bool {
        if case .open = self { true } else { false }
    }

    var waits: Bool {
        if case .wait = self { true } else { false }
    }

    var failure: RelayFailure? {
        if case .fail(let failure) = self { failure } else { nil }
    }
}

extension UpstreamPoolStateMachine.ReleaseAction {
    var keptIdle: Bool {
        if case .keepIdle = self { true } else { false }
    }

    /// The lease handed on and to whom.
    var handOff: (lease: UpstreamPoolStateMachine.Lease, to: WaiterID)? {
        if case .handOff(let lease, let to) = self { (lease, to) } else { nil }
    }

    /// The connection closed, and the waiter its slot went to, if any.
    var closed: (connection: Connection, slotTo: WaiterID?)? {
        if case .close(let connection, let slotTo) = self { (connection, slotTo) } else { nil }
    }
}
