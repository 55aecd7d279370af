/// An account's configured sending limits. Zero means unlimited.
public struct QuotaLimits: Sendable, Hashable {
    /// Messages in any rolling 60 s (`max_messages_per_minute`).
    public var messagesPerMinute: Int
    /// Messages in any rolling hour (`max_messages_per_hour`).
    public var messagesPerHour: Int
    /// Messages in any rolling 24 h (`max_messages_per_day`).
    public var messagesPerDay: Int
    /// Recipients, over all messages, in any rolling 24 h (`max_recipients_per_day`).
    public var recipientsPerDay: Int

    /// Negative values are clamped to 0 (unlimited) rather than rejected: the configuration loader
    /// reports bad values, and a quota must never stop all mail because of one.
    public init(messagesPerMinute: Int = 0, messagesPerHour: Int = 0, messagesPerDay: Int = 0, recipientsPerDay: Int = 0) {
        self.messagesPerMinute = max(0, messagesPerMinute)
        self.messagesPerHour = max(0, messagesPerHour)
        self.messagesPerDay = max(0, messagesPerDay)
        self.recipientsPerDay = max(0, recipientsPerDay)
    }

    /// No limits at all (usage is still counted).
    public static let unlimited = QuotaLimits()

    /// The configured value of one limit.
    public func value(of limit: QuotaLimit) -> Int {
        switch limit {
        case .messagesPerMinute: messagesPerMinute
        case .messagesPerHour: messagesPerHour
        case .messagesPerDay: messagesPerDay
        case .recipientsPerDay: recipientsPerDay
        }
    }

    /// The same limits with negative values (possible through the mutable properties) as 0.
    var clamped: QuotaLimits {
        QuotaLimits(messagesPerMinute: messagesPerMinute, messagesPerHour: messagesPerHour,
                    messagesPerDay: messagesPerDay, recipientsPerDay: recipientsPerDay)
    }
}
