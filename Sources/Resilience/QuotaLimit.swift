/// One of the four per-account limits.
public enum QuotaLimit: Sendable, Hashable, CaseIterable {
    case messagesPerMinute
    case messagesPerHour
    case messagesPerDay
    case recipientsPerDay

    /// The field name in the accounts JSON, so that a refusal names the setting to change.
    public var configName: String {
        switch self {
        case .messagesPerMinute: "max_messages_per_minute"
        case .messagesPerHour: "max_messages_per_hour"
        case .messagesPerDay: "max_messages_per_day"
        case .recipientsPerDay: "max_recipients_per_day"
        }
    }

    /// The length of the rolling window the limit applies to.
    public var window: Duration {
        switch self {
        case .messagesPerMinute: .seconds(60)
        case .messagesPerHour: .seconds(3600)
        case .messagesPerDay, .recipientsPerDay: .seconds(86400)
        }
    }
}
