import FleetState
import Foundation
import Testing

@Suite("Quota windows and lease balances")
struct QuotaWindowTests {
    @Test("windows are aligned to UTC: the minute, the full hour, midnight", arguments: [
        (QuotaWindow.messagesPerMinute, 1_795_000_450.0, Int64(1_795_000_440)),
        (.messagesPerMinute, 1_795_000_440.0, 1_795_000_440),
        (.messagesPerMinute, 1_795_000_439.999, 1_795_000_380),
        (.messagesPerHour, 1_795_000_450.0, 1_794_999_600),
        (.messagesPerDay, 1_795_000_450.0, 1_794_960_000),
        (.recipientsPerDay, 1_795_000_450.0, 1_794_960_000),
        (.messagesPerMinute, -1.0, -60),
    ])
    func alignment(window: QuotaWindow, seconds: Double, start: Int64) {
        #expect(window.start(containing: Date(timeIntervalSince1970: seconds)) == start)
        #expect(window.end(ofWindowStartingAt: start) == Date(timeIntervalSince1970: Double(start + window.seconds)))
    }

    static let lease = QuotaLease(id: UUID(), account: "a@example.com", window: .messagesPerMinute, windowStart: 0,
                                  amount: 3, usableUntil: Date(timeIntervalSince1970: 30), fleetGranted: 3)

    @Test("a balance spends what it holds until it expires, and refunds only what it spent")
    func balance() {
        var balance = QuotaLeaseBalance(Self.lease)
        let before = Date(timeIntervalSince1970: 29)
        let tookTwo = balance.spend(2, at: before)
        #expect(tookTwo)
        let tookTwoMore = balance.spend(2, at: before)
        #expect(!tookTwoMore)
        let tookNone = balance.spend(0, at: before)
        #expect(!tookNone)
        #expect(balance.unused == 1)
        #expect(balance.isUsable(at: before))
        #expect(!balance.isUsable(at: Self.lease.usableUntil))
        let spentExpired = balance.spend(at: Self.lease.usableUntil)
        #expect(!spentExpired)
        balance.refund(5)
        #expect(balance.unused == 3)
        #expect(balance.spent == 0)
    }
}
