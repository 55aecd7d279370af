import FleetState
import Foundation
import Testing

@Suite("Quota windows and lease balances")
struct QuotaWindowTests {
    @Test("buckets are a sixtieth of the window, aligned to the epoch; 60 buckets before the current one still count", arguments: [
        (QuotaWindow.messagesPerMinute, 1_795_000_450.7, Int64(1_795_000_450)),
        (.messagesPerMinute, -0.5, -1),
        (.messagesPerHour, 1_795_000_450.0, 1_795_000_440),
        (.messagesPerHour, 1_795_000_439.999, 1_795_000_380),
        (.messagesPerDay, 1_795_000_450.0, 1_795_000_320),
        (.recipientsPerDay, 1_795_000_450.0, 1_795_000_320),
    ])
    func buckets(window: QuotaWindow, seconds: Double, bucket: Int64) {
        let date = Date(timeIntervalSince1970: seconds)
        #expect(window.bucket(containing: date) == bucket)
        #expect(window.oldestCountedBucket(at: date) == bucket - window.seconds)
    }

    static let lease = QuotaLease(id: UUID(), account: "a@example.com", window: .messagesPerMinute, bucketStart: 0,
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
