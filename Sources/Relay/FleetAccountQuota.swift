import Accounts
import FleetState
import Resilience

/// One account's share of the fleet's quotas (`--state-url`): the same four limits as the local
/// `AccountQuota`, counted for every replica together through `FleetQuota`'s leases.
///
/// A message takes one from each message window and one recipient at MAIL FROM, where the
/// session can wait (boundedly) for a lease; the RCPTs after the first take one recipient each
/// from the held lease and never wait: RCPT is answered in its pipelined group, so a recipient
/// that finds no lease is answered 451 4.7.1 and the client retries it, by which time the
/// refill that the miss started has arrived.
struct FleetAccountQuota: Sendable {
    let quota: FleetQuota
    /// Keyed by email, lowercased: the provider counts per mailbox, whatever the account is called here.
    let key: String
    /// Every window with a limit: what a message takes one of at MAIL FROM (its first
    /// recipient included).
    private let messageLimits: [QuotaWindow: Int]
    private let recipientLimits: [QuotaWindow: Int]

    /// Nil when there is no fleet database or the account has no limit to share.
    init?(_ quota: FleetQuota?, account: Account) {
        guard let quota else { return nil }
        let limits = account.limits
        var values: [QuotaWindow: Int] = [:]
        values[.messagesPerMinute] = limits.messagesPerMinute
        values[.messagesPerHour] = limits.messagesPerHour
        values[.messagesPerDay] = limits.messagesPerDay
        values[.recipientsPerDay] = limits.recipientsPerDay
        values = values.filter { $0.value > 0 }
        guard !values.isEmpty else { return nil }
        self.quota = quota
        self.key = account.email.lowercased()
        self.messageLimits = values
        self.recipientLimits = values.filter { $0.key == .recipientsPerDay }
    }

    /// The message windows and its first recipient, without waiting; `.pending` asks for `spendMessage`.
    func trySpendMessage() -> FleetQuotaDecision {
        quota.trySpend(account: key, limits: messageLimits)
    }

    /// `trySpendMessage`, waiting at most the lease call's bound for a missing lease.
    func spendMessage() async -> FleetQuotaDecision {
        await quota.spend(account: key, limits: messageLimits)
    }

    /// One more recipient; nil when the account has no recipient limit.
    func trySpendRecipient() -> FleetQuotaDecision? {
        recipientLimits.isEmpty ? nil : quota.trySpend(account: key, limits: recipientLimits)
    }

    func refund(_ spend: FleetQuotaSpend) {
        quota.refund(spend)
    }

    /// The refusal a client hears: the limit by its configuration name, and a retry hint of one
    /// bucket of its window (the fleet frees room bucket by bucket; the exact moment depends on
    /// other replicas, so this is the earliest it can be, not a promise).
    func refusal(_ window: QuotaWindow) -> QuotaRefusal {
        QuotaRefusal(limit: window.limit, value: messageLimits[window] ?? 0, retryAfter: .seconds(window.bucketSeconds))
    }

    /// A lease was still on its way: retry in a second.
    func pendingRefusal(_ window: QuotaWindow) -> QuotaRefusal {
        QuotaRefusal(limit: window.limit, value: messageLimits[window] ?? 0, retryAfter: .seconds(1))
    }
}

/// What a message holds of the fleet's quotas, to give back what the provider did not take.
struct FleetAdmission: Sendable {
    /// The message windows and the first recipient.
    var message: FleetQuotaSpend
    var firstRecipientTaken = false
    /// One per later recipient, in RCPT order.
    var recipients: [FleetQuotaSpend] = []
}

extension QuotaWindow {
    var limit: QuotaLimit {
        switch self {
        case .messagesPerMinute: .messagesPerMinute
        case .messagesPerHour: .messagesPerHour
        case .messagesPerDay: .messagesPerDay
        case .recipientsPerDay: .recipientsPerDay
        }
    }
}
