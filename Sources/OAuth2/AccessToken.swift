/// A bearer token as issued by the provider.
public struct AccessToken: Sendable, Hashable {
    public var value: String
    /// When the provider says the token stops working, measured from when the request was sent
    /// (so it errs early). No safety margin is subtracted here; `TokenCache` applies its own.
    public var expiresAt: ContinuousClock.Instant

    public init(value: String, expiresAt: ContinuousClock.Instant) {
        self.value = value
        self.expiresAt = expiresAt
    }
}

extension AccessToken: CustomStringConvertible, CustomDebugStringConvertible {
    /// Redacted: a token interpolated into a log line must not become usable by whoever reads the log.
    public var description: String { "AccessToken(<redacted>, expiresAt: \(expiresAt))" }
    public var debugDescription: String { description }
}
