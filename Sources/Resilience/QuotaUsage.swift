/// A snapshot of an account's quota windows, for a status page.
public struct QuotaUsage: Sendable, Hashable {
    /// Messages counted in the minute window (refunded ones excluded), and likewise below.
    public let messagesLastMinute: Int
    public let messagesLastHour: Int
    public let messagesLastDay: Int
    public let recipientsLastDay: Int
    /// The limits in force, so a status page can show "12 / 30".
    public let limits: QuotaLimits

    public init(messagesLastMinute: Int, messagesLastHour: Int, messagesLastDay: Int, recipientsLastDay: Int, limits: QuotaLimits) {
        self.messagesLastMinute = messagesLastMinute
        self.messagesLastHour = messagesLastHour
        self.messagesLastDay = messagesLastDay
        self.recipientsLastDay = recipientsLastDay
        self.limits = limits
    }

    /// The current count in the window of `limit`, for rendering all four uniformly.
    public func count(for limit: QuotaLimit) -> Int {
        switch limit {
        case .messagesPerMinute: messagesLastMinute
        case .messagesPerHour: messagesLastHour
        case .messagesPerDay: messagesLastDay
        case .recipientsPerDay: recipientsLastDay
        }
    }
}
