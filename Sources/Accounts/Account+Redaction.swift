/// Accounts get logged, interpolated into errors and dumped in test failures; none of those
/// paths may leak credentials. Secrets print as `<redacted>` when set and `nil` when absent,
/// because whether a password exists is useful to an operator and reveals nothing.
extension Account: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    static let redactedMarker = "<redacted>"

    public var description: String {
        let fields = redactedFields.map { "\($0.label): \($0.rendered)" }
        return "Account(\(fields.joined(separator: ", ")))"
    }

    public var debugDescription: String {
        description
    }

    /// `dump()` and test-failure printers walk the mirror, bypassing `description`.
    public var customMirror: Mirror {
        Mirror(self, children: redactedFields.map { (label: $0.label, value: $0.rendered as Any) }, displayStyle: .struct)
    }

    private var redactedFields: [(label: String, rendered: String)] {
        [
            ("accountID", quoted(accountID)),
            ("email", quoted(email)),
            ("provider", provider.rawValue),
            ("clientID", quoted(clientID)),
            ("clientSecret", redacted(clientSecret)),
            ("refreshToken", Account.redactedMarker),
            ("password", redacted(password)),
            ("tokenURL", quoted(tokenURL)),
            ("scope", scope.map(quoted) ?? "nil"),
            ("tenant", tenant.map(quoted) ?? "nil"),
            ("smtpHost", quoted(smtpHost)),
            ("smtpPort", String(smtpPort)),
            ("smtpTLS", smtpTLS.rawValue),
            ("tlsCAFile", tlsCAFile.map(quoted) ?? "nil"),
            ("maxConnections", String(maxConnections)),
            ("maxMessagesPerConnection", String(maxMessagesPerConnection)),
            ("limits", rendered(limits)),
        ]
    }

    /// Limits are not secret, and an operator wondering why mail is held back needs them.
    private func rendered(_ limits: AccountLimits) -> String {
        let fields = [
            ("messagesPerMinute", limits.messagesPerMinute),
            ("messagesPerHour", limits.messagesPerHour),
            ("messagesPerDay", limits.messagesPerDay),
            ("recipientsPerDay", limits.recipientsPerDay),
            ("concurrentMessages", limits.concurrentMessages),
        ]
        return "AccountLimits(" + fields.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + ")"
    }

    private func redacted(_ secret: String?) -> String {
        secret == nil ? "nil" : Account.redactedMarker
    }

    private func quoted(_ value: String) -> String {
        quotedForMessage(value, limit: 256)
    }
}
