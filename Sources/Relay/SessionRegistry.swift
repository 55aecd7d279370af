import NIOConcurrencyHelpers
import NIOCore
import SMTPCore
import SMTPNIO

/// The client sessions in progress, so a shutdown can tell each one goodbye at the right time:
/// sessions between transactions at once, the others when their transaction ends, and any
/// left when the grace period runs out by closing their connection.
final class SessionRegistry: Sendable {
    static let goodbye = SMTPReply(421, "4.3.2", "Service shutting down, try again later")

    private struct Entry {
        var channel: any Channel
        var betweenTransactions: Bool
    }

    private struct State {
        var sessions: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var draining = false
        var emptyWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())

    var active: Int { state.withLockedValue { $0.sessions.count } }
    var isDraining: Bool { state.withLockedValue { $0.draining } }

    /// Nil when the session arrives after shutdown began (or beyond `limit`): refuse it.
    func register(_ channel: any Channel, limit: Int) -> UInt64? {
        state.withLockedValue { state in
            guard !state.draining, state.sessions.count < limit else { return nil }
            state.nextID += 1
            state.sessions[state.nextID] = Entry(channel: channel, betweenTransactions: true)
            return state.nextID
        }
    }

    func unregister(_ id: UInt64) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLockedValue { state in
            state.sessions.removeValue(forKey: id)
            guard state.sessions.isEmpty else { return [] }
            defer { state.emptyWaiters = [] }
            return state.emptyWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once no session is left (at once if none is open).
    func waitUntilEmpty() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let empty = state.withLockedValue { state in
                if state.sessions.isEmpty { return true }
                state.emptyWaiters.append(continuation)
                return false
            }
            if empty { continuation.resume() }
        }
    }

    /// Returns whether the session should say goodbye now (shutdown began and it is idle).
    func update(_ id: UInt64, betweenTransactions: Bool) -> Bool {
        state.withLockedValue { state in
            state.sessions[id]?.betweenTransactions = betweenTransactions
            return state.draining && betweenTransactions
        }
    }

    /// Starts the drain: idle sessions are asked to close now.
    func drain() {
        let idle: [any Channel] = state.withLockedValue { state in
            state.draining = true
            return state.sessions.values.filter(\.betweenTransactions).map(\.channel)
        }
        for channel in idle {
            channel.pipeline.fireUserInboundEventTriggered(SMTPServerDrainEvent(reply: Self.goodbye))
        }
    }

    /// The grace period is over: whatever is still open is cut. A client cut mid-transaction
    /// never heard 250, so it still has the message.
    func closeAll() {
        let channels = state.withLockedValue { $0.sessions.values.map(\.channel) }
        for channel in channels { channel.close(promise: nil) }
    }
}
