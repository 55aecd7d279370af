import Resilience
import TestSupport
import Testing

/// A restart must not reset a daily quota: the day windows are saved as history and seeded back.
struct QuotaHistoryTests {
    @Test func dayHistoryRoundTripsIntoAFreshQuotaAndStillExpiresOnTime() {
        let clock = ManualClock()
        let limits = QuotaLimits(messagesPerDay: 3, recipientsPerDay: 10)
        let before = AccountQuota(limits: limits, clock: clock.clock)
        for hour in 0..<2 {
            guard case .granted(var reservation) = before.reserveMessage() else { Issue.record("refused"); return }
            #expect(before.reserveRecipient(for: &reservation) == nil)
            clock.advance(by: .seconds(3600 * (hour + 1)))
        }
        let saved = before.dayHistory()
        #expect(saved.messages.map(\.count).reduce(0, +) == 2)

        let after = AccountQuota(limits: limits, clock: clock.clock)
        after.seedDayHistory(messages: saved.messages, recipients: saved.recipients)
        #expect(after.usage().messagesLastDay == 2)
        #expect(after.usage().recipientsLastDay == 2)
        guard case .granted = after.reserveMessage() else { Issue.record("third refused"); return }
        guard case .refused(let refusal) = after.reserveMessage() else { Issue.record("fourth granted"); return }
        #expect(refusal.limit == .messagesPerDay)
        // The first message was sent 3 h before the "restart": it leaves the window about 21 h later.
        #expect(refusal.retryAfter > .seconds(20 * 3600) && refusal.retryAfter < .seconds(22 * 3600))
        clock.advance(by: refusal.retryAfter)
        guard case .granted = after.reserveMessage() else { Issue.record("still refused after the window freed"); return }
    }

    @Test func historyOlderThanADayIsDropped() {
        let clock = ManualClock()
        let quota = AccountQuota(limits: QuotaLimits(messagesPerDay: 1), clock: clock.clock)
        quota.seedDayHistory(messages: [(age: .seconds(90_000), count: 5)], recipients: [])
        #expect(quota.usage().messagesLastDay == 0)
    }
}
