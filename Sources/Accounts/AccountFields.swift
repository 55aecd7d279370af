/// The JSON field names an account object may carry. Anything else is an error, so a typo
/// such as "smtp_prot" cannot silently fall back to a default.
enum AccountField: String, CaseIterable, Sendable {
    case accountID = "account_id"
    case email
    case provider
    case clientID = "client_id"
    case clientSecret = "client_secret"
    case refreshToken = "refresh_token"
    case grant
    case credential
    case certificateFile = "certificate_file"
    case privateKeyFile = "private_key_file"
    case serviceAccountFile = "service_account_file"
    case federatedTokenFile = "federated_token_file"
    case serviceAccountEmail = "service_account_email"
    case metadataHost = "metadata_host"
    case iamCredentialsURL = "iam_credentials_url"
    case password
    case tokenURL = "token_url"
    case scope
    case tenant
    case smtpHost = "smtp_host"
    case smtpPort = "smtp_port"
    case smtpTLS = "smtp_tls"
    case tlsCAFile = "tls_ca_file"
    case maxConnections = "max_connections"
    case maxMessagesPerConnection = "max_messages_per_connection"
    case maxMessagesPerMinute = "max_messages_per_minute"
    case maxMessagesPerHour = "max_messages_per_hour"
    case maxMessagesPerDay = "max_messages_per_day"
    case maxRecipientsPerDay = "max_recipients_per_day"
    case maxConcurrentMessages = "max_concurrent_messages"

    /// Integer fields get their value from a file or an environment variable as text, which
    /// is then held to the same whole-number rule as a JSON literal.
    var isInteger: Bool {
        switch self {
        case .smtpPort, .maxConnections, .maxMessagesPerConnection, .maxMessagesPerMinute, .maxMessagesPerHour,
             .maxMessagesPerDay, .maxRecipientsPerDay, .maxConcurrentMessages:
            true
        default:
            false
        }
    }

    /// The closest known name to a misspelt one, for a "did you mean" hint. Only suggests
    /// when the spelling is close enough that the suggestion is probably right.
    static func suggestion(for unknown: String) -> AccountField? {
        let lowered = unknown.lowercased()
        var best: (field: AccountField, distance: Int)?
        for field in allCases {
            let distance = editDistance(lowered, field.rawValue)
            if distance < (best?.distance ?? Int.max) { best = (field, distance) }
        }
        guard let best else { return nil }
        let tolerance = max(1, min(3, best.field.rawValue.count / 4))
        return best.distance <= tolerance ? best.field : nil
    }
}

/// Edit distance counting an adjacent swap as one edit (optimal string alignment), since
/// "emial" is the typo people actually make. Inputs are short field names.
func editDistance(_ a: String, _ b: String) -> Int {
    let left = Array(a.unicodeScalars)
    let right = Array(b.unicodeScalars)
    if left.isEmpty { return right.count }
    if right.isEmpty { return left.count }
    var table = [[Int]](repeating: [Int](repeating: 0, count: right.count + 1), count: left.count + 1)
    for i in 0...left.count { table[i][0] = i }
    for j in 0...right.count { table[0][j] = j }
    for i in 1...left.count {
        for j in 1...right.count {
            let cost = left[i - 1] == right[j - 1] ? 0 : 1
            var best = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
            if i > 1, j > 1, left[i - 1] == right[j - 2], left[i - 2] == right[j - 1] {
                best = min(best, table[i - 2][j - 2] + 1)
            }
            table[i][j] = best
        }
    }
    return table[left.count][right.count]
}

/// Typed access to one account object's members, turning every type or presence problem
/// into a `ConfigError` that points at the account and field. `null` is treated as absent
/// for optional fields, since "no value" is what it means in JSON.
struct AccountFieldReader {
    let members: [String: JSONValue]
    /// Keys in document order, so the first unknown field reported is the first one written.
    let orderedKeys: [String]
    let source: String
    /// Nil for an account that is a whole document on its own (one file per account).
    let index: Int?
    /// Best-known identity of the account for error messages; refined once validated.
    var accountID: String?
    /// Put before field names in errors: "credentials.NAME." for a shared credential's fields.
    var fieldPrefix = ""

    init(members: [JSONMember], source: String, index: Int?, fieldPrefix: String = "") {
        self.fieldPrefix = fieldPrefix
        // The parser already rejected duplicate keys, so this cannot drop anything.
        self.members = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        self.orderedKeys = members.map(\.key)
        self.source = source
        self.index = index
        self.accountID = nil
    }

    func error(_ field: AccountField?, _ message: String) -> ConfigError {
        ConfigError(source: source, accountID: accountID, index: index, field: field.map { fieldPrefix + $0.rawValue }, message: message)
    }

    func error(rawField: String, _ message: String) -> ConfigError {
        ConfigError(source: source, accountID: accountID, index: index, field: fieldPrefix + rawField, message: message)
    }

    /// Absent or null -> nil. Present strings must be non-empty: an empty optional value is
    /// far more likely a template left unfilled than a deliberate choice, and for `password`
    /// an empty string would let an empty SMTP password log in.
    func optionalString(_ field: AccountField) throws(ConfigError) -> String? {
        switch members[field.rawValue] {
        case nil, .null?:
            return nil
        case .string(let value)?:
            guard !value.isEmpty else {
                throw error(field, "must not be empty (leave the field out instead)")
            }
            return value
        case let other?:
            throw error(field, "must be a string, got \(other.typeName)\(Self.fileReferenceHint(other))")
        }
    }

    func requiredString(_ field: AccountField, because reason: String? = nil) throws(ConfigError) -> String {
        switch members[field.rawValue] {
        case nil, .null?:
            throw error(field, "is required" + (reason.map { " " + $0 } ?? ""))
        case .string(let value)?:
            guard !value.isEmpty else { throw error(field, "must not be empty") }
            return value
        case let other?:
            throw error(field, "must be a string, got \(other.typeName)\(Self.fileReferenceHint(other))")
        }
    }

    /// An object where a value belongs is most likely a file reference written wrongly.
    private static func fileReferenceHint(_ value: JSONValue) -> String {
        guard case .object = value else { return "" }
        return " (to read the value from a file, write {\"\(FileReference.key)\": \"/path\"})"
    }

    /// Integers only: a string "587", a float 587.5 (or even 587.0) and a boolean are all
    /// rejected with the type that was actually found.
    func optionalInt(_ field: AccountField, in range: ClosedRange<Int>, rangeDescription: String) throws(ConfigError) -> Int? {
        let expectation = "must be an integer \(rangeDescription)"
        switch members[field.rawValue] {
        case nil, .null?:
            return nil
        case .number(let literal)?:
            guard JSONValue.isIntegerLiteral(literal) else {
                throw error(field, "\(expectation), got a non-integer number")
            }
            // Int(literal) is nil only on overflow, which is out of range by definition.
            guard let value = Int(literal), range.contains(value) else {
                throw error(field, expectation)
            }
            return value
        case let other?:
            throw error(field, "\(expectation), got \(other.typeName)\(Self.fileReferenceHint(other))")
        }
    }

    func optionalEnum<Value: RawRepresentable & CaseIterable>(_ field: AccountField, as _: Value.Type) throws(ConfigError) -> Value?
    where Value.RawValue == String {
        guard let raw = try optionalString(field) else { return nil }
        guard let value = Value(rawValue: raw) else { throw error(field, "must be one of \(Self.choices(Value.self))") }
        return value
    }

    func requiredEnum<Value: RawRepresentable & CaseIterable>(_ field: AccountField, as _: Value.Type) throws(ConfigError) -> Value
    where Value.RawValue == String {
        let raw = try requiredString(field)
        guard let value = Value(rawValue: raw) else { throw error(field, "must be one of \(Self.choices(Value.self))") }
        return value
    }

    private static func choices<Value: RawRepresentable & CaseIterable>(_: Value.Type) -> String where Value.RawValue == String {
        Value.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
    }

    /// Members not in `AccountField`, in document order.
    var unknownKeys: [String] {
        orderedKeys.filter { AccountField(rawValue: $0) == nil }
    }
}
