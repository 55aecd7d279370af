import NIOConcurrencyHelpers
import SeededRandom
import SMTPCore

/// The steps of a sandbox SMTP session where a fault can be injected.
public enum SandboxStep: String, Sendable, Hashable, CaseIterable {
    case ehlo, auth, mail, rcpt, data, endOfData
}

/// Fault injection for the sandbox SMTP server: replies at any step, rejected recipients,
/// connections dropped mid-DATA, delays. Counted faults fire that many times, then stop.
/// Random faults (`setRandomFaults`) fire with set probabilities, for soak tests; counted
/// faults take priority over them.
public final class SandboxFaults: Sendable {
    /// Seeded random faults. At each step in `steps` one draw decides: drop the connection
    /// without a reply (probability `dropRate`), else answer one of `replies` instead of the
    /// normal reply (probability `replyRate`), else carry on. If the two rates add up to more
    /// than 1, drops win. Independently, each message that is stored is followed by a dropped
    /// connection instead of its 250 with probability `dropAfterAcceptRate`: the "reply lost"
    /// case, after which a correct client sends the message again (a legitimate duplicate).
    ///
    /// The sequence of draws is fixed by `seed`; which session gets which draw depends on
    /// scheduling, so a run with concurrent sessions is reproducible in aggregate, not in detail.
    public struct RandomFaults: Sendable {
        public var seed: UInt64
        public var replyRate: Double
        public var replies: [SMTPReply]
        public var dropRate: Double
        public var dropAfterAcceptRate: Double
        /// EHLO and AUTH are left out by default: faults there fail the connection set-up
        /// rather than a message, which is a different test.
        public var steps: Set<SandboxStep>

        public static let defaultReplies = [
            SMTPReply(421, "4.7.0", "Try again later, closing connection"),
            SMTPReply(451, "4.3.0", "Temporary server error"),
        ]
        public static let defaultSteps: Set<SandboxStep> = [.mail, .rcpt, .data, .endOfData]

        public init(seed: UInt64, replyRate: Double = 0, replies: [SMTPReply] = defaultReplies, dropRate: Double = 0,
                    dropAfterAcceptRate: Double = 0, steps: Set<SandboxStep> = defaultSteps) {
            self.seed = seed
            self.replyRate = replyRate
            self.replies = replies
            self.dropRate = dropRate
            self.dropAfterAcceptRate = dropAfterAcceptRate
            self.steps = steps
        }
    }

    /// What the faults did, counted and random alike, so a test can account for every message.
    public struct Statistics: Sendable, Equatable {
        /// Replies sent instead of the normal one (including rejected recipients).
        public var injectedReplies: Int
        /// Connections closed without a reply, at a step or mid-DATA; the message was not stored.
        public var drops: Int
        /// Connections closed after the message was stored, before its 250 went out.
        public var droppedAfterAccept: Int

        public init(injectedReplies: Int = 0, drops: Int = 0, droppedAfterAccept: Int = 0) {
            self.injectedReplies = injectedReplies
            self.drops = drops
            self.droppedAfterAccept = droppedAfterAccept
        }
    }

    /// What a session does instead of its normal reply.
    enum StepFault: Equatable {
        case reply(SMTPReply)
        case drop
    }

    private struct State {
        var replies: [SandboxStep: [SMTPReply]] = [:]
        var rejectedRecipients: [String: SMTPReply] = [:]
        var dropsDuringData: [Int] = []
        var delays: [SandboxStep: Duration] = [:]
        var random: RandomFaults?
        var generator = SplitMix64(seed: 0)
        var statistics = Statistics()
        var lenientData = false
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// The next `times` sessions reaching `step` get `reply` instead of the normal answer.
    /// A 421 also closes the connection, as real servers do.
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

    /// A lenient provider: DATA is answered 354 even with no transaction open (after a refused
    /// MAIL), and what follows is taken as a message body until the end-of-data line.
    public var opensDataWithoutTransaction: Bool {
        get { state.withLockedValue { $0.lenientData } }
        set { state.withLockedValue { $0.lenientData = newValue } }
    }

    public func delay(_ step: SandboxStep, by duration: Duration) {
        state.withLockedValue { $0.delays[step] = duration }
    }

    /// Turns random faults on (restarting the sequence from `faults.seed`) or off (nil).
    /// Statistics carry on either way.
    public func setRandomFaults(_ faults: RandomFaults?) {
        state.withLockedValue { state in
            state.random = faults
            state.generator = SplitMix64(seed: faults?.seed ?? 0)
        }
    }

    public var statistics: Statistics {
        state.withLockedValue { $0.statistics }
    }

    /// Back to a fresh instance: no faults of any kind, statistics zero.
    public func reset() {
        state.withLockedValue { $0 = State() }
    }

    /// A counted reply if one is queued for `step`, else a random fault if one is drawn.
    func takeFault(at step: SandboxStep) -> StepFault? {
        state.withLockedValue { state -> StepFault? in
            if var queue = state.replies[step], !queue.isEmpty {
                let reply = queue.removeFirst()
                state.replies[step] = queue
                state.statistics.injectedReplies += 1
                return .reply(reply)
            }
            guard let random = state.random, random.steps.contains(step) else { return nil }
            let draw = state.generator.unit()
            if draw < random.dropRate {
                state.statistics.drops += 1
                return .drop
            }
            guard draw < random.dropRate + random.replyRate,
                  let reply = random.replies.randomElement(using: &state.generator) else { return nil }
            state.statistics.injectedReplies += 1
            return .reply(reply)
        }
    }

    func recipientRejection(for address: String) -> SMTPReply? {
        state.withLockedValue { state in
            guard let reply = state.rejectedRecipients[address.lowercased()] else { return nil }
            state.statistics.injectedReplies += 1
            return reply
        }
    }

    func takeDataDrop() -> Int? {
        state.withLockedValue { $0.dropsDuringData.isEmpty ? nil : $0.dropsDuringData.removeFirst() }
    }

    /// Called when a drop taken with `takeDataDrop` actually happens (the body may be shorter).
    func noteDataDrop() {
        state.withLockedValue { $0.statistics.drops += 1 }
    }

    /// Whether the message just stored should go unacknowledged (the connection dropped).
    func takeDropAfterAccept() -> Bool {
        state.withLockedValue { state in
            guard let random = state.random, random.dropAfterAcceptRate > 0,
                  state.generator.unit() < random.dropAfterAcceptRate else { return false }
            state.statistics.droppedAfterAccept += 1
            return true
        }
    }

    func delay(at step: SandboxStep) -> Duration? {
        state.withLockedValue { $0.delays[step] }
    }
}
