/// Turns one element of the accounts array into a validated, fully resolved `Account`.
/// Checks run in the order a person fixing the file would want: unknown (misspelt) fields
/// first, then identity, then credentials, then endpoints.
enum AccountDecoding {
    /// `index` is nil for an account that is a document of its own. Files read along the way
    /// (`{"file": …}` values, `tls_ca_file`) are recorded in `log`.
    static func decode(
        _ value: JSONValue, index: Int?, source: String, baseDirectory: String?,
        credentials: SharedCredentials = SharedCredentials(), log: inout ReadLog
    ) throws(ConfigError) -> Account {
        guard case .object(var members) = value else {
            throw ConfigError(source: source, index: index, message: "must be a JSON object, got \(value.typeName)")
        }
        var reader = AccountFieldReader(members: members, source: source, index: index)
        reader.accountID = provisionalAccountID(reader)

        if let unknown = reader.unknownKeys.first {
            let hint = AccountField.suggestion(for: unknown).map { " (did you mean \"\($0.rawValue)\"?)" } ?? ""
            throw reader.error(rawField: unknown, "unknown field\(hint)")
        }
        let credentialName: String?
        (members, credentialName) = try credentials.merged(into: members, reader: reader)

        // From here on every field holds its value, wherever the value was kept; the label is
        // worked out again because email or account_id may have come from a file.
        let resolved = try FileReference.resolve(members, reader: reader, baseDirectory: baseDirectory, log: &log)
        reader = AccountFieldReader(members: resolved, source: source, index: index)
        reader.accountID = provisionalAccountID(reader)

        let explicitID = try reader.optionalString(.accountID)
        if let explicitID, let problem = AccountValidation.accountIDProblem(explicitID) {
            throw reader.error(.accountID, problem)
        }
        let email = try reader.requiredString(.email)
        if let problem = AccountValidation.emailProblem(email) { throw reader.error(.email, problem) }
        let accountID = explicitID ?? email
        reader.accountID = accountID

        let provider = try reader.requiredEnum(.provider, as: Provider.self)
        let grantType = try reader.optionalEnum(.grant, as: GrantType.self) ?? .refreshToken
        let givenTenant = try reader.optionalString(.tenant)
        let tenant = givenTenant ?? provider.defaultTenant
        if let tenant, let problem = AccountValidation.tenantProblem(tenant) { throw reader.error(.tenant, problem) }
        let granted = try AccountGrantDecoding.decode(grantType, reader: reader, provider: provider, tenantGiven: givenTenant != nil,
                                                      tenant: tenant, baseDirectory: baseDirectory, log: &log)
        // The password is compared byte-for-byte with what the app sends, so it is taken as is.
        let password = try reader.optionalString(.password)

        let scope = try reader.optionalString(.scope) ?? granted.defaultScope
        if let scope, let problem = AccountValidation.scopeProblem(scope) { throw reader.error(.scope, problem) }

        let smtpTLS = try reader.optionalEnum(.smtpTLS, as: SMTPTLSMode.self) ?? .starttls
        let smtpHost = try resolvedSMTPHost(reader, provider: provider)
        let smtpPort = try reader.optionalInt(.smtpPort, in: 1...65535, rangeDescription: "between 1 and 65535")
            ?? smtpTLS.defaultPort
        if smtpTLS == .none, !LoopbackHost.isLoopback(smtpHost) {
            throw reader.error(.smtpTLS, "\"none\" (plain-text SMTP) is allowed only when smtp_host is a loopback address (127.0.0.0/8, ::1, localhost)")
        }

        let tokenURL = try resolvedTokenURL(reader, provider: provider, tenant: tenant, fallback: granted.tokenURL)

        var tlsCAFile: String?
        if let rawPath = try reader.optionalString(.tlsCAFile) {
            let path = CAFileCheck.resolve(rawPath, baseDirectory: baseDirectory)
            if let problem = CAFileCheck.problem(atPath: path, log: &log) { throw reader.error(.tlsCAFile, problem) }
            tlsCAFile = path
        }

        let maxConnections = try reader.optionalInt(.maxConnections, in: 1...Int.max, rangeDescription: "of at least 1")
            ?? provider.defaultMaxConnections
        let maxMessages = try reader.optionalInt(.maxMessagesPerConnection, in: 1...Int.max, rangeDescription: "of at least 1")
            ?? Account.defaultMaxMessagesPerConnection
        let limits = try resolvedLimits(reader, provider: provider, maxConnections: maxConnections)

        return Account(
            accountID: accountID, email: email, provider: provider,
            clientID: granted.clientID, clientSecret: granted.clientSecret, grant: granted.grant, credentialName: credentialName,
            password: password,
            tokenURL: tokenURL, scope: scope, tenant: tenant,
            smtpHost: smtpHost, smtpPort: smtpPort, smtpTLS: smtpTLS, tlsCAFile: tlsCAFile,
            maxConnections: maxConnections, maxMessagesPerConnection: maxMessages, limits: limits
        )
    }

    /// The identity errors are labelled with before the identity fields themselves have been
    /// checked: a valid `account_id`, else (only when none is given) a valid email. An
    /// invalid value is never used as a label, which keeps junk out of the message.
    static func provisionalAccountID(_ reader: AccountFieldReader) -> String? {
        switch reader.members[AccountField.accountID.rawValue] {
        case .string(let id)?:
            return !id.isEmpty && AccountValidation.accountIDProblem(id) == nil ? id : nil
        case nil, .null?:
            if case .string(let email)? = reader.members[AccountField.email.rawValue],
               AccountValidation.emailProblem(email) == nil {
                return email
            }
            return nil
        case _?:
            return nil
        }
    }

    /// Each limit falls back to the provider's default on its own, so tightening one quota
    /// (say the daily one on a consumer gmail.com account) keeps the others in force.
    private static func resolvedLimits(_ reader: AccountFieldReader, provider: Provider, maxConnections: Int) throws(ConfigError) -> AccountLimits {
        let defaults = AccountLimits.defaults(for: provider, maxConnections: maxConnections)
        func limit(_ field: AccountField, default fallback: Int) throws(ConfigError) -> Int {
            try reader.optionalInt(
                field, in: 0...AccountLimits.maximumValue,
                rangeDescription: "from 0 (unlimited) to \(AccountLimits.maximumValue)"
            ) ?? fallback
        }
        return AccountLimits(
            messagesPerMinute: try limit(.maxMessagesPerMinute, default: defaults.messagesPerMinute),
            messagesPerHour: try limit(.maxMessagesPerHour, default: defaults.messagesPerHour),
            messagesPerDay: try limit(.maxMessagesPerDay, default: defaults.messagesPerDay),
            recipientsPerDay: try limit(.maxRecipientsPerDay, default: defaults.recipientsPerDay),
            concurrentMessages: try limit(.maxConcurrentMessages, default: defaults.concurrentMessages)
        )
    }

    private static func resolvedSMTPHost(_ reader: AccountFieldReader, provider: Provider) throws(ConfigError) -> String {
        let host: String
        if let defaultHost = provider.defaultSMTPHost {
            host = try reader.optionalString(.smtpHost) ?? defaultHost
        } else {
            host = try reader.requiredString(.smtpHost, because: "for provider \"\(provider.rawValue)\"")
        }
        if let problem = AccountValidation.smtpHostProblem(host) { throw reader.error(.smtpHost, problem) }
        // Connect APIs want "::1", not the URL-style "[::1]".
        return LoopbackHost.unbracketed(host)
    }

    private static func resolvedTokenURL(_ reader: AccountFieldReader, provider: Provider, tenant: String?, fallback: String?) throws(ConfigError) -> String {
        let template: String
        if let defaultTemplate = fallback ?? provider.defaultTokenURLTemplate {
            template = try reader.optionalString(.tokenURL) ?? defaultTemplate
        } else {
            template = try reader.requiredString(.tokenURL, because: "for provider \"\(provider.rawValue)\"")
        }
        let tokenURL = substitutingTenant(in: template, tenant: tenant)
        if let problem = AccountValidation.tokenURLProblem(tokenURL) { throw reader.error(.tokenURL, problem) }
        return tokenURL
    }
}
