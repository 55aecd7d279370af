/// Why a message or recipient was refused, and when to try again.
public struct QuotaRefusal: Sendable, Hashable, Error, CustomStringConvertible {
    /// The limit that was reached.
    public let limit: QuotaLimit
    /// Its configured value.
    public let value: Int
    /// How long until the window has room for one more, at least one second.
    public let retryAfter: Duration

    /// `retryAfter` below one second is raised to one second.
    public init(limit: QuotaLimit, value: Int, retryAfter: Duration) {
        self.limit = limit
        self.value = value
        // Sub-second hints are noise to an SMTP client and invite an immediate retry loop.
        self.retryAfter = max(.seconds(1), retryAfter)
    }

    /// Human text for an SMTP reply, e.g. "Account limit max_messages_per_minute=30 reached; retry in about 42 s".
    public var text: String {
        "Account limit \(limit.configName)=\(value) reached; retry in \(ApproximateDuration.text(retryAfter))"
    }

    /// The same as `text`, so that logging the error reads well.
    public var description: String { text }
}
