import Foundation

/// The per-account limits the fleet shares, as fixed windows aligned to UTC: a minute window
/// starts at :00, an hour at the full hour, a day at 00:00 UTC. Every replica computes the same
/// window from its wall clock, so a clock off by s seconds moves that replica's window edges by
/// s (NTP keeps s far below a second). Fixed, not rolling: a leased block belongs to one window
/// and becomes void when it ends.
public enum QuotaWindow: String, Sendable, Hashable, CaseIterable {
    case messagesPerMinute = "messages_minute"
    case messagesPerHour = "messages_hour"
    case messagesPerDay = "messages_day"
    case recipientsPerDay = "recipients_day"

    public var seconds: Int64 {
        switch self {
        case .messagesPerMinute: 60
        case .messagesPerHour: 3600
        case .messagesPerDay, .recipientsPerDay: 86_400
        }
    }

    /// The start, in seconds since the Unix epoch, of the window holding `date`.
    public func start(containing date: Date) -> Int64 {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite else { return 0 }
        let whole = Int64(max(-9e15, min(9e15, seconds.rounded(.down))))
        let (quotient, remainder) = whole.quotientAndRemainder(dividingBy: self.seconds)
        return (remainder < 0 ? quotient - 1 : quotient) * self.seconds
    }

    public func end(ofWindowStartingAt start: Int64) -> Date {
        Date(timeIntervalSince1970: TimeInterval(start + seconds))
    }
}
