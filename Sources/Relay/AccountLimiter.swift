import Accounts
import FleetState
import Logging
import NIOConcurrencyHelpers
import Resilience

/// A message let through by an account's limits: it holds a concurrency slot and its counts in
/// the rate windows until `AccountLimiter.finish` gives back the slot and, if the provider did
/// not accept the message, the counts.
struct Admission {
    var reservation: MessageReservation
    /// What it took of the fleet's quotas, with `--state-url`.
    var fleet: FleetAdmission?
}

/// One account's brakes: its configured sending limits, and what the provider told us about it
/// (quota spent, slow down, credentials refused). Shared by all sessions of the account.
final class AccountLimiter: Sendable {
    let quota: AccountQuota
    let concurrency: ConcurrencyLimiter
    /// New connections after the provider said "slow down".
    let slowDown: BackoffGate
    /// Opens after repeated AUTH refusals with fresh tokens.
    let credentials: CircuitBreaker
    /// The fleet's count of the same limits, with `--state-url`; the local windows still apply.
    let fleet: FleetAccountQuota?
    private let settings: ResilienceSettings
    private let pausedUntil: NIOLockedValueBox<ContinuousClock.Instant?>

    /// `previous`: the same account before a reload. Its counts carry over; its concurrency
    /// slots too unless the limit changed; its credentials verdict only if the credentials did not.
    init(account: Account, settings: ResilienceSettings, logger: Logger, previous: (limiter: AccountLimiter, credentialsChanged: Bool)? = nil) {
        let limits = account.limits
        fleet = FleetAccountQuota(settings.fleetQuota, account: account)
        let quotaLimits = QuotaLimits(messagesPerMinute: limits.messagesPerMinute, messagesPerHour: limits.messagesPerHour,
                                      messagesPerDay: limits.messagesPerDay, recipientsPerDay: limits.recipientsPerDay)
        if let previous {
            quota = AccountQuota(limits: quotaLimits, clock: settings.clock, sharingCountsWith: previous.limiter.quota)
            let sameLimit = previous.limiter.concurrency.limit == max(0, limits.concurrentMessages)
            concurrency = sameLimit ? previous.limiter.concurrency : ConcurrencyLimiter(limit: limits.concurrentMessages)
            slowDown = previous.limiter.slowDown
            pausedUntil = previous.limiter.pausedUntil
        } else {
            quota = AccountQuota(limits: quotaLimits, clock: settings.clock)
            concurrency = ConcurrencyLimiter(limit: limits.concurrentMessages)
            slowDown = BackoffGate(backoff: settings.slowDownBackoff, clock: settings.clock)
            pausedUntil = NIOLockedValueBox(nil)
        }
        if let previous, !previous.credentialsChanged {
            credentials = previous.limiter.credentials
            self.settings = settings
            return
        }
        credentials = CircuitBreaker(name: "credentials:\(account.accountID)", configuration: settings.credentialsBreaker,
                                     clock: settings.clock) { transition in
            logger.log(level: transition.to == .open ? .error : .notice, "account credentials breaker \(transition.to.rawValue)", metadata: [
                "account_id": "\(account.accountID)",
                "cool_down_s": "\(transition.coolDown.map { "\($0.components.seconds)" } ?? "-")",
            ])
        }
        self.settings = settings
    }

    /// MAIL FROM's answer when it needs no wait; nil when a concurrency slot or a fleet lease
    /// must be waited for (then `admit()`), which a session on an event loop does off the loop.
    func admitNow() -> Result<Admission, RelayFailure>? {
        let reservation: MessageReservation
        switch reserveMessage() {
        case .failure(let failure): return .failure(failure)
        case .success(let reserved): reservation = reserved
        }
        let held: FleetAdmission?
        switch fleetShare(fleet?.trySpendMessage(), of: reservation) {
        case .refused(let failure): return .failure(failure)
        case .pending: return nil
        case .held(let share): held = share
        }
        guard concurrency.tryAcquire() else {
            giveBack(reservation, held)
            return nil
        }
        return .success(Admission(reservation: reservation, fleet: held))
    }

    /// Called at MAIL FROM. Waits (bounded) only for a concurrency slot and a fleet lease; every
    /// other limit answers at once.
    func admit() async -> Result<Admission, RelayFailure> {
        let reservation: MessageReservation
        switch reserveMessage() {
        case .failure(let failure): return .failure(failure)
        case .success(let reserved): reservation = reserved
        }
        let held: FleetAdmission?
        switch fleetShare(await fleet?.spendMessage(), of: reservation) {
        case .refused(let failure): return .failure(failure)
        case .pending(let refusal):
            // `spend` decides after its one bounded wait; pending again is not expected.
            return .failure(.accountLimit(refusal))
        case .held(let share): held = share
        }
        guard await concurrency.acquire(timeout: settings.concurrencyWait) else {
            giveBack(reservation, held)
            return .failure(.concurrencyLimit(limit: concurrency.limit, waited: settings.concurrencyWait))
        }
        return .success(Admission(reservation: reservation, fleet: held))
    }

    private enum FleetShare {
        /// Nil without a fleet.
        case held(FleetAdmission?)
        case refused(RelayFailure)
        /// A lease is on its way; the refusal for a caller that cannot wait for it.
        case pending(QuotaRefusal)
    }

    /// The fleet's answer for a message (`decision` nil: no fleet); on a refusal or a wait the
    /// local reservation is given back, since the message does not go now.
    private func fleetShare(_ decision: FleetQuotaDecision?, of reservation: MessageReservation) -> FleetShare {
        guard let fleet, let decision else { return .held(nil) }
        switch decision {
        case .granted(let spend):
            return .held(FleetAdmission(message: spend))
        case .refused(let window):
            quota.refund(reservation)
            return .refused(.accountLimit(fleet.refusal(window)))
        case .pending:
            quota.refund(reservation)
            return .pending(fleet.pendingRefusal(.messagesPerMinute))
        }
    }

    /// What a message that got no concurrency slot took, local and fleet.
    private func giveBack(_ reservation: MessageReservation, _ held: FleetAdmission?) {
        quota.refund(reservation)
        if let held { fleet?.refund(held.message) }
    }

    /// The limits that answer at once: a provider's quota pause, then the account's windows.
    private func reserveMessage() -> Result<MessageReservation, RelayFailure> {
        if let remaining = pauseRemaining() { return .failure(.quotaPaused(retryAfter: remaining)) }
        switch quota.reserveMessage() {
        case .refused(let refusal): return .failure(.accountLimit(refusal))
        case .granted(let granted): return .success(granted)
        }
    }

    /// Recipients count against the daily recipient limit as they are given.
    func admitRecipient(_ admission: inout Admission) -> RelayFailure? {
        if let refusal = quota.reserveRecipient(for: &admission.reservation) { return .accountLimit(refusal) }
        guard let fleet, var held = admission.fleet else { return nil }
        defer { admission.fleet = held }
        guard held.firstRecipientTaken else {
            held.firstRecipientTaken = true
            return nil
        }
        switch fleet.trySpendRecipient() {
        case nil:
            return nil
        case .granted(let spend):
            held.recipients.append(spend)
            return nil
        case .refused(let window):
            quota.refundRecipient(&admission.reservation)
            return .accountLimit(fleet.refusal(window))
        case .pending:
            quota.refundRecipient(&admission.reservation)
            return .accountLimit(fleet.pendingRefusal(.recipientsPerDay))
        }
    }

    func recipientRefused(_ admission: inout Admission) {
        quota.refundRecipient(&admission.reservation)
        // The first recipient is part of the message's spend, given back with it if none is accepted.
        if let spend = admission.fleet?.recipients.popLast() { fleet?.refund(spend) }
    }

    /// Only messages the provider accepted count against the account's quota.
    func finish(_ admission: Admission, accepted: Bool) {
        concurrency.release()
        guard !accepted else { return }
        quota.refund(admission.reservation)
        if let fleet, let held = admission.fleet {
            fleet.refund(held.message)
            for spend in held.recipients { fleet.refund(spend) }
        }
    }

    /// Refuses new connections while the provider's slow-down or a credentials failure lasts.
    func checkNewConnection() throws(RelayFailure) -> CircuitBreaker.Permit {
        let permit = credentials.permit()
        if case .rejected(let retryAfter) = permit { throw .credentialsFailing(retryAfter: retryAfter) }
        if let remaining = slowDown.blockedFor() { throw .throttled(retryAfter: remaining) }
        return permit
    }

    /// Returns true when this pushback started a pause (so it is logged once, not per message).
    @discardableResult
    func pauseForQuota() -> Bool {
        let until = settings.clock.now() + settings.quotaPause
        return pausedUntil.withLockedValue { current in
            let wasPaused = current.map { $0 > settings.clock.now() } ?? false
            current = until
            return !wasPaused
        }
    }

    var connectionLimitPause: Duration { settings.connectionLimitPause }
    var quotaPause: Duration { settings.quotaPause }

    func pauseRemaining() -> Duration? {
        let now = settings.clock.now()
        return pausedUntil.withLockedValue { until in
            guard let until, until > now else { return nil }
            return until - now
        }
    }

    // For the fleet's pushbacks (AccountLimiter+FleetPushbacks.swift), which cannot see the
    // private state.
    var fleetPushbacks: FleetPushbackBridge? { settings.fleetPushbacks }
    var clock: ResilienceClock { settings.clock }

    /// Pauses until `until` unless a pause already lasts as long: for a quota pause another
    /// replica's provider gave. Returns true when it started a pause.
    @discardableResult
    func extendPause(until: ContinuousClock.Instant) -> Bool {
        let now = settings.clock.now()
        return pausedUntil.withLockedValue { current in
            let wasPaused = current.map { $0 > now } ?? false
            if let current, current >= until { return false }
            current = until
            return !wasPaused
        }
    }
}
