import Foundation

/// The top-level `credentials` object: application credentials named once and used by many
/// accounts (`"credential": "NAME"`), so 1000 mailboxes do not repeat one secret 1000 times.
/// Names are unique across every account source; a credential may sit in a file of its own.
struct SharedCredentials: Sendable {
    static let key = "credentials"

    /// The fields a credential may set: who the application is and how it gets tokens, and
    /// where its mail goes. Per-mailbox fields (email, password, refresh token, limits) stay on
    /// the account.
    static let fields: Set<AccountField> = [
        .provider, .grant, .tenant, .clientID, .clientSecret, .certificateFile, .privateKeyFile,
        .serviceAccountFile, .federatedTokenFile, .serviceAccountEmail, .metadataHost, .iamCredentialsURL,
        .tokenURL, .scope, .smtpHost, .smtpPort, .smtpTLS, .tlsCAFile,
    ]

    /// Values that are paths: made absolute against the credential's own document, since the
    /// account using it may live in another directory.
    static let pathFields: Set<AccountField> = [.certificateFile, .privateKeyFile, .serviceAccountFile, .federatedTokenFile, .tlsCAFile]

    struct Entry: Sendable {
        var members: [JSONMember]
        /// Where it is defined, for errors and "defined twice" reports.
        var origin: String
    }

    private(set) var entries: [String: Entry] = [:]

    /// Adds the credentials of one document. `{"file": …}` values are read here, relative
    /// paths resolved against the document's directory.
    mutating func add(_ value: JSONValue, source: String, baseDirectory: String?, log: inout ReadLog) throws(ConfigError) {
        guard case .object(let named) = value else {
            throw ConfigError(source: source, field: Self.key, message: "must be an object of named credentials, got \(value.typeName)")
        }
        for credential in named {
            let label = "\(Self.key).\(credential.key)"
            guard !credential.key.isEmpty, AccountValidation.accountIDProblem(credential.key) == nil else {
                throw ConfigError(source: source, field: Self.key, message: "a credential name must be non-empty and printable")
            }
            guard case .object(let members) = credential.value else {
                throw ConfigError(source: source, field: label, message: "must be an object, got \(credential.value.typeName)")
            }
            if let earlier = entries[credential.key] {
                throw ConfigError(source: source, field: label, message: "is defined in \(earlier.origin) and in \(source)")
            }
            for member in members where AccountField(rawValue: member.key).map(Self.fields.contains) != true {
                let known = AccountField(rawValue: member.key) != nil
                let hint = AccountField.suggestion(for: member.key).flatMap { Self.fields.contains($0) ? $0 : nil }.map { " (did you mean \"\($0.rawValue)\"?)" } ?? ""
                throw ConfigError(source: source, field: "\(label).\(member.key)",
                                  message: known ? "belongs on each account, not on a shared credential" : "unknown field\(hint)")
            }
            let reader = AccountFieldReader(members: members, source: source, index: nil, fieldPrefix: label + ".")
            var resolved = try FileReference.resolve(members, reader: reader, baseDirectory: baseDirectory, log: &log)
            for position in resolved.indices {
                guard let field = AccountField(rawValue: resolved[position].key), Self.pathFields.contains(field),
                      case .string(let path) = resolved[position].value, !path.isEmpty else { continue }
                // Standardized, so the watcher sees the directory itself, not "secret/..".
                let absolute = CAFileCheck.resolve(path, baseDirectory: baseDirectory)
                resolved[position].value = .string(URL(fileURLWithPath: absolute).standardizedFileURL.path)
            }
            entries[credential.key] = Entry(members: resolved, origin: source)
        }
    }

    /// The account's members with its credential's merged in. A field set in both places is
    /// an error: which of the two was meant cannot be guessed.
    func merged(into members: [JSONMember], reader: AccountFieldReader) throws(ConfigError) -> (members: [JSONMember], name: String?) {
        guard let reference = members.first(where: { $0.key == AccountField.credential.rawValue }) else { return (members, nil) }
        guard case .string(let name) = reference.value, !name.isEmpty else {
            throw reader.error(.credential, "must be the name of an entry of \"\(Self.key)\"")
        }
        guard let entry = entries[name] else {
            let known = entries.keys.sorted().prefix(20).map { quotedForMessage($0, limit: 64) }
            let list = known.isEmpty ? "no credentials are defined" : "defined: " + known.joined(separator: ", ")
            throw reader.error(.credential, "unknown credential \(quotedForMessage(name, limit: 64)) (\(list))")
        }
        let own = Set(members.map(\.key))
        if let clash = entry.members.first(where: { own.contains($0.key) }) {
            throw reader.error(rawField: clash.key, "is also set by credential \(quotedForMessage(name, limit: 64)) (\(entry.origin)); set it in one place")
        }
        return (members.filter { $0.key != AccountField.credential.rawValue } + entry.members, name)
    }
}
