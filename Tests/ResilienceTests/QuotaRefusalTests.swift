import Testing
import Resilience

@Suite struct QuotaRefusalTests {
    static let textCases: [(Duration, String)] = [
        (.milliseconds(1), "about 1 s"),
        (.seconds(1), "about 1 s"),
        (.milliseconds(41_200), "about 42 s"),
        (.seconds(42), "about 42 s"),
        (.seconds(59), "about 59 s"),
        (.milliseconds(59_500), "about 1 min"),
        (.seconds(89), "about 1 min"),
        (.seconds(90), "about 2 min"),
        (.seconds(17 * 60), "about 17 min"),
        (.seconds(3569), "about 59 min"),
        (.seconds(3570), "about 1 h"),
        (.seconds(3 * 3600), "about 3 h"),
        (.seconds(3 * 3600 + 1799), "about 3 h"),
        (.seconds(86_400 + 1440), "about 24 h"),
    ]

    @Test(arguments: textCases)
    func text(retryAfter: Duration, expected: String) {
        let refusal = QuotaRefusal(limit: .messagesPerMinute, value: 30, retryAfter: retryAfter)
        #expect(refusal.text == "Account limit max_messages_per_minute=30 reached; retry in \(expected)")
        #expect(refusal.description == refusal.text)
    }

    @Test func absurdWaitDoesNotTrap() {
        let refusal = QuotaRefusal(limit: .messagesPerDay, value: 1, retryAfter: .seconds(Int64.max))
        #expect(refusal.text.hasSuffix(" h"))
    }

    @Test(arguments: [Duration.zero, .milliseconds(-5), .milliseconds(300)])
    func retryAfterIsAtLeastOneSecond(_ retryAfter: Duration) {
        #expect(QuotaRefusal(limit: .messagesPerHour, value: 1, retryAfter: retryAfter).retryAfter == .seconds(1))
    }

    @Test(arguments: [
        (QuotaLimit.messagesPerMinute, "max_messages_per_minute"),
        (.messagesPerHour, "max_messages_per_hour"),
        (.messagesPerDay, "max_messages_per_day"),
        (.recipientsPerDay, "max_recipients_per_day"),
    ])
    func configNames(limit: QuotaLimit, name: String) {
        #expect(limit.configName == name)
    }

    @Test func limitsValueLookup() {
        let limits = QuotaLimits(messagesPerMinute: 1, messagesPerHour: 2, messagesPerDay: 3, recipientsPerDay: 4)
        #expect(QuotaLimit.allCases.map { limits.value(of: $0) } == [1, 2, 3, 4])
    }
}
