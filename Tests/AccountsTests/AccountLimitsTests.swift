import Testing
import Accounts

/// One provider's expected limits when the config says nothing about them.
struct ProviderLimitsCase: Sendable, CustomTestStringConvertible {
    var provider: Provider
    var account: AccountJSON
    var expected: AccountLimits

    var testDescription: String { provider.rawValue }
}

private let providerLimitsCases: [ProviderLimitsCase] = [
    .init(provider: .gmail, account: .gmail(), expected: AccountLimits(messagesPerDay: 2000, recipientsPerDay: 10_000, concurrentMessages: 5)),
    .init(provider: .outlook, account: .outlook(), expected: AccountLimits(messagesPerMinute: 30, recipientsPerDay: 10_000, concurrentMessages: 3)),
    .init(provider: .custom, account: .custom(), expected: AccountLimits(concurrentMessages: 5)),
]

/// A JSON limit field and the `AccountLimits` property it sets.
struct LimitField: Sendable, CustomTestStringConvertible {
    var name: String
    var keyPath: WritableKeyPath<AccountLimits, Int> & Sendable

    var testDescription: String { name }
}

private let limitFields: [LimitField] = [
    .init(name: "max_messages_per_minute", keyPath: \.messagesPerMinute),
    .init(name: "max_messages_per_hour", keyPath: \.messagesPerHour),
    .init(name: "max_messages_per_day", keyPath: \.messagesPerDay),
    .init(name: "max_recipients_per_day", keyPath: \.recipientsPerDay),
    .init(name: "max_concurrent_messages", keyPath: \.concurrentMessages),
]

@Suite("Sending limits")
struct AccountLimitsTests {
    @Test("absent limits take the provider's defaults", arguments: providerLimitsCases)
    func providerDefaults(_ testCase: ProviderLimitsCase) throws {
        #expect(try onlyAccount(testCase.account).limits == testCase.expected)
        #expect(AccountLimits.defaults(for: testCase.provider, maxConnections: testCase.provider.defaultMaxConnections) == testCase.expected)
    }

    @Test("the hand-built initialiser applies the same defaults", arguments: providerLimitsCases)
    func handBuiltDefaults(_ testCase: ProviderLimitsCase) {
        let account = Account(email: "a@example.com", provider: testCase.provider, clientID: "c", refreshToken: "r")
        #expect(account.limits == testCase.expected)
    }

    @Test("an explicit value replaces that one limit and keeps the other defaults", arguments: limitFields)
    func explicitValueOverridesOneField(_ field: LimitField) throws {
        let account = try onlyAccount(AccountJSON.outlook().setting(field.name, raw: "500"))
        var expected = AccountLimits.defaults(for: .outlook, maxConnections: 3)
        expected[keyPath: field.keyPath] = 500
        #expect(account.limits == expected)
    }

    @Test("outlook with only a daily limit keeps its per-minute limit")
    func outlookDailyLimitOnly() throws {
        let limits = try onlyAccount(AccountJSON.outlook().setting("max_messages_per_day", raw: "500")).limits
        #expect(limits.messagesPerDay == 500)
        #expect(limits.messagesPerMinute == 30)
        #expect(limits.recipientsPerDay == 10_000)
    }

    @Test("0 is accepted and means unlimited, also where the provider has a default", arguments: limitFields)
    func zeroMeansUnlimited(_ field: LimitField) throws {
        for account in [AccountJSON.gmail(), .outlook(), .custom()] {
            let limits = try onlyAccount(account.setting(field.name, raw: "0")).limits
            #expect(limits[keyPath: field.keyPath] == 0)
        }
    }

    @Test("every limit set to 0 is the same as unlimited")
    func allZero() throws {
        var account = AccountJSON.gmail()
        for field in limitFields { account = account.setting(field.name, raw: "0") }
        #expect(try onlyAccount(account).limits == .unlimited)
        #expect(AccountLimits.unlimited == AccountLimits())
    }

    @Test("the upper bound itself is accepted", arguments: limitFields)
    func upperBound(_ field: LimitField) throws {
        let limits = try onlyAccount(AccountJSON.gmail().setting(field.name, raw: "10000000")).limits
        #expect(limits[keyPath: field.keyPath] == 10_000_000)
    }

    @Test("null means the limit is absent")
    func nullMeansAbsent() throws {
        var account = AccountJSON.outlook()
        for field in limitFields { account = account.setting(field.name, raw: "null") }
        #expect(try onlyAccount(account).limits == AccountLimits.defaults(for: .outlook, maxConnections: 3))
    }

    @Test("max_concurrent_messages defaults to the resolved max_connections", arguments: [
        (AccountJSON.gmail(), nil as Int?, 5),
        (.outlook(), nil, 3),
        (.custom(), nil, 5),
        (.gmail(), 9, 9),
        (.outlook(), 1, 1),
        (.custom(), 12, 12),
    ])
    func concurrencyFollowsMaxConnections(account: AccountJSON, maxConnections: Int?, expected: Int) throws {
        var json = account
        if let maxConnections { json = json.setting("max_connections", raw: String(maxConnections)) }
        let loaded = try onlyAccount(json)
        #expect(loaded.maxConnections == expected)
        #expect(loaded.limits.concurrentMessages == expected)

        let built = Account(email: "a@example.com", provider: loaded.provider, clientID: "c", refreshToken: "r", maxConnections: maxConnections)
        #expect(built.limits.concurrentMessages == expected)
    }

    @Test("max_concurrent_messages is independent of max_connections once set")
    func explicitConcurrency() throws {
        let account = try onlyAccount(
            AccountJSON.gmail().setting("max_connections", raw: "2").setting("max_concurrent_messages", raw: "8")
        )
        #expect(account.maxConnections == 2)
        #expect(account.limits.concurrentMessages == 8)
        let unlimited = try onlyAccount(AccountJSON.gmail().setting("max_concurrent_messages", raw: "0"))
        #expect(unlimited.limits.concurrentMessages == 0)
    }

    @Test("explicit limits passed to the initialiser are kept as given")
    func handBuiltExplicitLimits() {
        let limits = AccountLimits(messagesPerHour: 100, concurrentMessages: 1)
        let account = Account(email: "a@example.com", provider: .outlook, clientID: "c", refreshToken: "r", maxConnections: 4, limits: limits)
        #expect(account.limits == limits)
        #expect(account.limits.messagesPerMinute == 0, "an explicit value replaces the provider defaults wholesale")
        #expect(Account(email: "a@example.com", provider: .gmail, clientID: "c", refreshToken: "r", limits: .unlimited).limits == .unlimited)
    }

    private func onlyAccount(_ account: AccountJSON, sourceLocation: SourceLocation = #_sourceLocation) throws -> Account {
        let directory = try AccountsConfigLoader.parse(document(account), source: testSource)
        #expect(directory.accounts.count == 1, sourceLocation: sourceLocation)
        return try #require(directory.accounts.first, sourceLocation: sourceLocation)
    }
}
