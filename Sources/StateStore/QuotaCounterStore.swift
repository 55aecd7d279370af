import Foundation

/// One account's message and recipient counts in wall-clock buckets, so that daily limits
/// survive a restart.
///
/// A bucket is keyed by its start in seconds since the Unix epoch (a multiple of `bucketSeconds`)
/// and counts the events in `[start, start + bucketSeconds)`. Queries work at bucket granularity
/// and err long: `count(since:)` includes a bucket that ends after `since` even if it started
/// before, so an event may count up to `bucketSeconds` longer than the window, never shorter
/// (like `RollingWindowCounter`). Buckets in the future (the wall clock was stepped back) also
/// count, until `pruned` or the clock passes them.
public struct QuotaCounterSnapshot: Sendable, Codable, Hashable {
    /// Bucket width in seconds, at least 1.
    public var bucketSeconds: Int
    /// Bucket start → messages counted in it.
    public var messages: [Int64: Int]
    /// Bucket start → recipients counted in it.
    public var recipients: [Int64: Int]

    /// - Parameter bucketSeconds: clamped to at least 1. 600 (10 min) suits a one-day window: 144 buckets.
    public init(bucketSeconds: Int, messages: [Int64: Int] = [:], recipients: [Int64: Int] = [:]) {
        self.bucketSeconds = max(1, bucketSeconds)
        self.messages = messages
        self.recipients = recipients
    }

    /// The start of the bucket holding `date`.
    public func bucketStart(for date: Date) -> Int64 {
        let seconds = date.timeIntervalSince1970
        let width = Int64(bucketSeconds)
        guard seconds.isFinite else { return seconds < 0 ? Int64.min / 2 : Int64.max / 2 }
        let whole = Int64(max(-9e15, min(9e15, seconds.rounded(.down))))
        let (quotient, remainder) = whole.quotientAndRemainder(dividingBy: width)
        return (remainder < 0 ? quotient - 1 : quotient) * width
    }

    /// Adds `messages` and `recipients` (negative values add nothing) to the bucket holding `date`.
    public mutating func record(messages: Int = 0, recipients: Int = 0, at date: Date) {
        let start = bucketStart(for: date)
        if messages > 0 { self.messages[start, default: 0] += messages }
        if recipients > 0 { self.recipients[start, default: 0] += recipients }
    }

    /// Without the buckets that ended at or before `cutoff` (those `count(since: cutoff)` ignores).
    public func pruned(olderThan cutoff: Date) -> QuotaCounterSnapshot {
        let keep = firstCountedStart(since: cutoff)
        return QuotaCounterSnapshot(bucketSeconds: bucketSeconds,
                                    messages: messages.filter { $0.key >= keep },
                                    recipients: recipients.filter { $0.key >= keep })
    }

    /// The events in buckets that end after `since`.
    public func count(since: Date) -> QuotaCounts {
        let keep = firstCountedStart(since: since)
        return QuotaCounts(messages: messages.reduce(0) { $1.key >= keep ? $0 + $1.value : $0 },
                           recipients: recipients.reduce(0) { $1.key >= keep ? $0 + $1.value : $0 })
    }

    /// A bucket counts since `date` iff its start is at least this (i.e. start + width > date).
    private func firstCountedStart(since date: Date) -> Int64 {
        bucketStart(for: date)
    }

    // Stored as sorted [[start, count], ...] pairs: JSON objects cannot have integer keys.
    private enum CodingKeys: String, CodingKey {
        case bucketSeconds, messages, recipients
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let bucketSeconds = try container.decode(Int.self, forKey: .bucketSeconds)
        guard bucketSeconds >= 1 else {
            throw DecodingError.dataCorruptedError(forKey: .bucketSeconds, in: container, debugDescription: "must be at least 1")
        }
        self.bucketSeconds = bucketSeconds
        self.messages = try Self.decodeBuckets(container, .messages)
        self.recipients = try Self.decodeBuckets(container, .recipients)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(bucketSeconds, forKey: .bucketSeconds)
        try container.encode(messages.sorted { $0.key < $1.key }.map { [$0.key, Int64($0.value)] }, forKey: .messages)
        try container.encode(recipients.sorted { $0.key < $1.key }.map { [$0.key, Int64($0.value)] }, forKey: .recipients)
    }

    private static func decodeBuckets(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> [Int64: Int] {
        let pairs = try container.decode([[Int64]].self, forKey: key)
        var buckets: [Int64: Int] = [:]
        for pair in pairs {
            guard pair.count == 2, pair[1] >= 0, pair[1] <= Int64(Int.max), buckets[pair[0]] == nil else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "bad bucket")
            }
            buckets[pair[0]] = Int(pair[1])
        }
        return buckets
    }
}

/// Events counted over some window.
public struct QuotaCounts: Sendable, Hashable {
    public var messages: Int
    public var recipients: Int

    public init(messages: Int, recipients: Int) {
        self.messages = messages
        self.recipients = recipients
    }
}

/// Quota counters, one 0600 file per account named `quota-<hash of email>`.
///
/// Blocking file IO: see `StateDirectory`. Prune before saving to keep files small.
public final class QuotaCounterStore: Sendable {
    public static let kind = "quota"

    private let file: JSONStateFile<QuotaCounterSnapshot>

    /// - Parameter onCorrupt: called with the file name and a reason (never the content) when a
    ///   file exists but cannot be used; `load` then returns nil (counting starts from zero).
    public init(directory: StateDirectory, onCorrupt: @escaping @Sendable (_ fileName: String, _ reason: String) -> Void) {
        self.file = JSONStateFile(directory: directory, kind: Self.kind, onCorrupt: onCorrupt)
    }

    /// The saved counters, or nil if none or unusable. Never throws.
    public func load(email: String) -> QuotaCounterSnapshot? {
        file.load(email: email)
    }

    public func save(email: String, snapshot: QuotaCounterSnapshot) throws(StateError) {
        try file.save(snapshot, email: email)
    }

    public func remove(email: String) throws(StateError) {
        try file.remove(email: email)
    }
}
