/// How much mail one account may send, so the proxy can hold messages back before the
/// provider starts refusing them (or suspends the mailbox) for exceeding its own quotas.
/// Every value is a count; 0 means unlimited, because "no limit" has to be expressible in
/// JSON, where an absent field already means "the provider's default".
public struct AccountLimits: Sendable, Hashable {
    public var messagesPerMinute: Int
    public var messagesPerHour: Int
    public var messagesPerDay: Int
    /// Counts every RCPT TO, since providers cap recipients separately from messages.
    public var recipientsPerDay: Int
    /// Mail transactions in flight at once, across all of the account's connections.
    public var concurrentMessages: Int

    /// Values above this are rejected at load: no provider allows that much mail per account,
    /// so such a number is a typo (an extra digit or two) rather than a real limit.
    static let maximumValue = 10_000_000

    public init(
        messagesPerMinute: Int = 0,
        messagesPerHour: Int = 0,
        messagesPerDay: Int = 0,
        recipientsPerDay: Int = 0,
        concurrentMessages: Int = 0
    ) {
        self.messagesPerMinute = messagesPerMinute
        self.messagesPerHour = messagesPerHour
        self.messagesPerDay = messagesPerDay
        self.recipientsPerDay = recipientsPerDay
        self.concurrentMessages = concurrentMessages
    }

    public static let unlimited = AccountLimits()

    /// What an account gets when the config says nothing about limits. Concurrency follows
    /// `maxConnections`: each connection carries one transaction at a time, so that is the
    /// most the upstream can be asked to handle anyway.
    public static func defaults(for provider: Provider, maxConnections: Int) -> AccountLimits {
        AccountLimits(
            messagesPerMinute: provider.defaultMaxMessagesPerMinute,
            messagesPerHour: provider.defaultMaxMessagesPerHour,
            messagesPerDay: provider.defaultMaxMessagesPerDay,
            recipientsPerDay: provider.defaultMaxRecipientsPerDay,
            concurrentMessages: maxConnections
        )
    }
}
