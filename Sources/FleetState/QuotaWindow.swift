import Foundation

/// The per-account limits the fleet shares, as rolling windows like the local ones
/// (`RollingWindowCounter`): each window is cut into 60 buckets aligned to the Unix epoch (1 s
/// for the minute, 1 min for the hour, 24 min for the day), and what counts at an instant is
/// the bucket holding it and the 60 before it. Every replica computes the same buckets from its
/// wall clock, so a clock off by s seconds shifts that replica's view by s (NTP keeps s far
/// below a second).
public enum QuotaWindow: String, Sendable, Hashable, CaseIterable {
    case messagesPerMinute = "messages_minute"
    case messagesPerHour = "messages_hour"
    case messagesPerDay = "messages_day"
    case recipientsPerDay = "recipients_day"

    /// The order a message's windows are decided in, fixed so that the same window is named
    /// when several refuse.
    static let decisionOrder = allCases.sorted { $0.rawValue < $1.rawValue }

    /// As many as the local counters have, so the fleet and a lone replica err alike.
    public static let buckets: Int64 = 60

    public var seconds: Int64 {
        switch self {
        case .messagesPerMinute: 60
        case .messagesPerHour: 3600
        case .messagesPerDay, .recipientsPerDay: 86_400
        }
    }

    public var bucketSeconds: Int64 { seconds / Self.buckets }

    /// The start, in seconds since the Unix epoch, of the bucket holding `date`.
    public func bucket(containing date: Date) -> Int64 {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite else { return 0 }
        let whole = Int64(max(-9e15, min(9e15, seconds.rounded(.down))))
        let (quotient, remainder) = whole.quotientAndRemainder(dividingBy: bucketSeconds)
        return (remainder < 0 ? quotient - 1 : quotient) * bucketSeconds
    }

    /// The oldest bucket that still counts at `date`: 60 buckets before the current one. So what
    /// is recorded in bucket b counts until at least b + one bucket + the window, and at most one
    /// bucket longer, never shorter than the window.
    public func oldestCountedBucket(at date: Date) -> Int64 {
        bucket(containing: date) - Self.buckets * bucketSeconds
    }
}
