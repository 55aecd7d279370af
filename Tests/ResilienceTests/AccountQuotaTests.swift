import Testing
@testable import Resilience
import TestSupport

@Suite struct AccountQuotaTests {
    let clock = ManualClock()

    func quota(_ limits: QuotaLimits) -> AccountQuota {
        AccountQuota(limits: limits, clock: clock.clock)
    }

    @Test func fivePerMinuteGrantsFiveThenRefusesUntilTheWindowMoves() throws {
        let quota = quota(QuotaLimits(messagesPerMinute: 5))
        for _ in 0..<5 {
            guard case .granted = quota.reserveMessage() else { Issue.record("refused early"); return }
        }
        let refusal = try #require(quota.reserveMessage().refusal)
        #expect(refusal.limit == .messagesPerMinute)
        #expect(refusal.value == 5)
        #expect(refusal.retryAfter >= .seconds(60) && refusal.retryAfter <= .seconds(61))
        clock.advance(by: .seconds(60))
        #expect(quota.reserveMessage().refusal != nil, "conservative: still inside window + one bucket")
        clock.advance(by: .seconds(1))
        #expect(quota.reserveMessage().reservation != nil)
    }

    @Test func refusalRecordsNothing() {
        let quota = quota(QuotaLimits(messagesPerMinute: 1, messagesPerHour: 10))
        _ = quota.reserveMessage()
        for _ in 0..<5 { _ = quota.reserveMessage() }
        #expect(quota.usage().messagesLastHour == 1)
    }

    @Test func refundGivesTheMessageBackInAllWindows() throws {
        let quota = quota(QuotaLimits(messagesPerMinute: 1, messagesPerHour: 1, messagesPerDay: 1, recipientsPerDay: 2))
        var reservation = try #require(quota.reserveMessage().reservation)
        #expect(quota.reserveRecipient(for: &reservation) == nil)
        #expect(quota.reserveRecipient(for: &reservation) == nil)
        #expect(quota.reserveMessage().refusal != nil)
        quota.refund(reservation)
        let usage = quota.usage()
        #expect(usage == QuotaUsage(messagesLastMinute: 0, messagesLastHour: 0, messagesLastDay: 0,
                                    recipientsLastDay: 0, limits: quota.limits))
        var again = try #require(quota.reserveMessage().reservation)
        #expect(quota.reserveRecipient(for: &again) == nil)
    }

    @Test func recipientsPerDayLimitAndRefusedRecipientRefund() throws {
        let quota = quota(QuotaLimits(recipientsPerDay: 3))
        var first = try #require(quota.reserveMessage().reservation)
        for _ in 0..<3 { #expect(quota.reserveRecipient(for: &first) == nil) }
        #expect(first.recipientCount == 3)
        let refusal = try #require(quota.reserveRecipient(for: &first))
        #expect(refusal.limit == .recipientsPerDay)
        #expect(refusal.value == 3)
        #expect(first.recipientCount == 3, "a refused recipient is not tracked")
        // The upstream refused one of them: that room comes back.
        quota.refundRecipient(&first)
        #expect(first.recipientCount == 2)
        #expect(quota.reserveRecipient(for: &first) == nil)
        #expect(quota.usage().recipientsLastDay == 3)
    }

    @Test func refundingRecipientsOfAnEmptyReservationIsANoOp() throws {
        let quota = quota(QuotaLimits(recipientsPerDay: 3))
        var reservation = try #require(quota.reserveMessage().reservation)
        quota.refundRecipient(&reservation)
        #expect(reservation.recipientCount == 0)
        #expect(quota.usage().recipientsLastDay == 0)
    }

    @Test func manyRecipientsInOneBucketTakeOneRun() throws {
        let quota = quota(.unlimited)
        var reservation = try #require(quota.reserveMessage().reservation)
        for _ in 0..<1000 { _ = quota.reserveRecipient(for: &reservation) }
        #expect(reservation.recipientRuns.count == 1)
        #expect(quota.usage().recipientsLastDay == 1000)
        quota.refund(reservation)
        #expect(quota.usage().recipientsLastDay == 0)
    }

    @Test func refundAfterTheWindowPassedChangesNothing() throws {
        let quota = quota(QuotaLimits(messagesPerMinute: 1))
        let old = try #require(quota.reserveMessage().reservation)
        clock.advance(by: .seconds(61))
        _ = try #require(quota.reserveMessage().reservation)
        quota.refund(old)
        #expect(quota.usage().messagesLastMinute == 1)
        #expect(quota.usage().messagesLastHour == 1, "the hour window still held the old message")
    }

    struct FreesLastCase: Sendable, CustomTestStringConvertible {
        let name: String
        let limits: QuotaLimits
        /// Seconds to advance before each granted message.
        let gaps: [Int]
        let expectedLimit: QuotaLimit
        let expectedRetry: ClosedRange<Int>
        var testDescription: String { name }
    }

    static let freesLastCases: [FreesLastCase] = [
        // Minute holds 1 (frees at 122 s), hour holds 2 (oldest frees at 3660 s): the hour frees last.
        FreesLastCase(name: "hour frees after minute", limits: QuotaLimits(messagesPerMinute: 1, messagesPerHour: 2),
                      gaps: [0, 61], expectedLimit: .messagesPerHour, expectedRetry: 3598...3600),
        // The hour's oldest frees at 3660 s, but the minute's message from 3650 s frees at 3711 s.
        FreesLastCase(name: "minute frees after hour", limits: QuotaLimits(messagesPerMinute: 1, messagesPerHour: 2),
                      gaps: [0, 3650], expectedLimit: .messagesPerMinute, expectedRetry: 60...61),
        FreesLastCase(name: "day frees last", limits: QuotaLimits(messagesPerMinute: 1, messagesPerHour: 5, messagesPerDay: 1),
                      gaps: [0], expectedLimit: .messagesPerDay, expectedRetry: 86_400...88_000),
    ]

    @Test(arguments: freesLastCases) func refusalNamesTheLimitThatFreesLast(_ c: FreesLastCase) throws {
        let quota = quota(c.limits)
        for gap in c.gaps {
            clock.advance(by: .seconds(gap))
            _ = try #require(quota.reserveMessage().reservation)
        }
        let refusal = try #require(quota.reserveMessage().refusal)
        #expect(refusal.limit == c.expectedLimit)
        let retry = refusal.retryAfter
        #expect(retry >= .seconds(c.expectedRetry.lowerBound) && retry <= .seconds(c.expectedRetry.upperBound))
        // Retrying when told succeeds.
        clock.advance(by: retry)
        #expect(quota.reserveMessage().reservation != nil)
    }

    @Test func unlimitedStillCountsUsage() {
        let quota = quota(.unlimited)
        for _ in 0..<100 { _ = quota.reserveMessage() }
        let usage = quota.usage()
        #expect(usage.messagesLastMinute == 100)
        #expect(usage.count(for: .messagesPerDay) == 100)
        #expect(usage.limits == .unlimited)
    }

    @Test func negativeLimitsAreUnlimited() {
        var limits = QuotaLimits(messagesPerMinute: -1)
        #expect(limits.messagesPerMinute == 0)
        limits.messagesPerHour = -5
        let quota = quota(limits)
        #expect(quota.limits == .unlimited)
        for _ in 0..<10 { #expect(quota.reserveMessage().reservation != nil) }
    }

    @Test func usageWindowsExpireIndependently() {
        let quota = quota(.unlimited)
        _ = quota.reserveMessage()
        clock.advance(by: .seconds(120))
        #expect(quota.usage() == QuotaUsage(messagesLastMinute: 0, messagesLastHour: 1, messagesLastDay: 1,
                                            recipientsLastDay: 0, limits: .unlimited))
        clock.advance(by: .seconds(3600))
        #expect(quota.usage().messagesLastHour == 0)
        #expect(quota.usage().messagesLastDay == 1)
    }

    @Test func tenThousandMessagesADayUseBoundedMemory() throws {
        let quota = quota(QuotaLimits(messagesPerDay: 10_000, recipientsPerDay: 10_000))
        let before = quota.storageCount
        for _ in 0..<10_000 {
            clock.advance(by: .seconds(7))
            var reservation = try #require(quota.reserveMessage().reservation)
            #expect(quota.reserveRecipient(for: &reservation) == nil)
        }
        #expect(quota.reserveMessage().refusal?.limit == .messagesPerDay)
        #expect(quota.usage().messagesLastDay == 10_000)
        #expect(quota.storageCount == before)
        #expect(before == 4 * 61)
    }
}

extension QuotaDecision {
    var reservation: Value? {
        if case .granted(let value) = self { value } else { nil }
    }

    var refusal: QuotaRefusal? {
        if case .refused(let refusal) = self { refusal } else { nil }
    }
}
