import NIOConcurrencyHelpers
import SMTPCore

/// The steps of a sandbox SMTP session where a fault can be injected.
public enum SandboxStep: String, Sendable, Hashable, CaseIterable {
    case ehlo, auth, mail, rcpt, data, endOfData
}

/// Fault injection for the sandbox SMTP server: replies at any step, rejected recipients,
/// connections dropped mid-DATA, delays. Counted faults fire that many times, then stop.
public final class SandboxFaults: Sendable {
    private struct State {
        var replies: [SandboxStep: [SMTPReply]] = [:]
        var rejectedRecipients: [String: SMTPReply] = [:]
        var dropsDuringData: [Int] = []
        var delays: [SandboxStep: Duration] = [:]
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// The next `times` sessions reaching `step` get `reply` instead of the normal answer.
    public func inject(_ reply: SMTPReply, at step: SandboxStep, times: Int = 1) {
        state.withLockedValue { $0.replies[step, default: []] += Array(repeating: reply, count: times) }
    }

    /// Every RCPT for `address` (case-insensitive) gets `reply`.
    public func rejectRecipient(_ address: String, with reply: SMTPReply = SMTPReply(550, "5.1.1", "No such user here")) {
        state.withLockedValue { $0.rejectedRecipients[address.lowercased()] = reply }
    }

    /// The next `times` messages see the connection closed once `afterBytes` of body arrived.
    public func dropConnectionDuringData(afterBytes: Int, times: Int = 1) {
        state.withLockedValue { $0.dropsDuringData += Array(repeating: afterBytes, count: times) }
    }

    public func delay(_ step: SandboxStep, by duration: Duration) {
        state.withLockedValue { $0.delays[step] = duration }
    }

    public func reset() {
        state.withLockedValue { $0 = State() }
    }

    func takeReply(at step: SandboxStep) -> SMTPReply? {
        state.withLockedValue { state in
            guard var queue = state.replies[step], !queue.isEmpty else { return nil }
            let reply = queue.removeFirst()
            state.replies[step] = queue
            return reply
        }
    }

    func recipientRejection(for address: String) -> SMTPReply? {
        state.withLockedValue { $0.rejectedRecipients[address.lowercased()] }
    }

    func takeDataDrop() -> Int? {
        state.withLockedValue { $0.dropsDuringData.isEmpty ? nil : $0.dropsDuringData.removeFirst() }
    }

    func delay(at step: SandboxStep) -> Duration? {
        state.withLockedValue { $0.delays[step] }
    }
}
