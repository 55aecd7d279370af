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
            ("refreshToken", redacted(refreshToken)),
            ("grant", rendered(grant)),
            ("credentialName", credentialName.map(quoted) ?? "nil"),
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

    /// Paths and emails print; a refresh token and key bytes do not.
    private func rendered(_ grant: AccountGrant) -> String {
        switch grant {
        case .refreshToken: "refresh_token"
        case .clientSecret: "client_credentials(client_secret)"
        case .clientCertificate(let certificate, let key): "client_credentials(certificate: \(certificate), key: \(key))"
        case .federatedToken(let file): "workload_identity(federated_token_file: \(file.map(quoted) ?? "$AZURE_FEDERATED_TOKEN_FILE"))"
        case .serviceAccount(let key): "service_account(\(key))"
        case .googleWorkloadIdentity(let email, let host, let url):
            "workload_identity(service_account_email: \(quoted(email)), metadata_host: \(host.map(quoted) ?? "nil"), iam_credentials_url: \(url.map(quoted) ?? "nil"))"
        }
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
