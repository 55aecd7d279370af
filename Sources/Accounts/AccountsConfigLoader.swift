import Foundation

/// Reads accounts.json (or the same JSON from another source, such as an environment
/// variable) into a validated `AccountDirectory`. Stops at the first problem; every error
/// names the source, and where applicable the account and field.
public enum AccountsConfigLoader {
    /// The only key allowed at the top of the object form.
    static let accountsKey = "accounts"

    /// Unreadable file -> `ConfigError(field: nil, message: "cannot read file: …")`.
    /// Relative `tls_ca_file` and `{"file": …}` paths resolve against the file's directory.
    public static func load(contentsOf path: String) throws(ConfigError) -> AccountDirectory {
        var log = ReadLog()
        let decoded = try decode(readDocument(atPath: path, form: .accountList, accepting: .regularFilesAndPipes, log: &log), log: &log)
        return try AccountDirectory(accounts: decoded.map(\.account), source: path)
    }

    /// `source` labels errors (a path, or e.g. "env XOAUTH2_PROXY_ACCOUNTS"). Relative
    /// `tls_ca_file` and `{"file": …}` paths resolve against `baseDirectory`, or the working
    /// directory if nil.
    public static func parse(_ data: [UInt8], source: String, baseDirectory: String? = nil) throws(ConfigError) -> AccountDirectory {
        var log = ReadLog()
        let decoded = try decode(data, source: source, baseDirectory: baseDirectory, form: .accountList, log: &log)
        return try AccountDirectory(accounts: decoded.map(\.account), source: source)
    }

    public static func parse(_ data: Data, source: String, baseDirectory: String? = nil) throws(ConfigError) -> AccountDirectory {
        try parse([UInt8](data), source: source, baseDirectory: baseDirectory)
    }

    /// For JSON held in a string, e.g. an environment variable.
    public static func parse(_ text: String, source: String, baseDirectory: String? = nil) throws(ConfigError) -> AccountDirectory {
        try parse(Array(text.utf8), source: source, baseDirectory: baseDirectory)
    }

    /// The shapes a document may take.
    enum DocumentForm: Sendable {
        /// accounts.json: `{"accounts": [...]}` or `[...]`.
        case accountList
        /// Also a single account object, for one-account-per-file Secret keys: any object
        /// without an "accounts" key is taken to be an account.
        case accountOrList
    }

    /// One decoded account and where it sat: nil when it was the whole document.
    struct DecodedAccount: Sendable {
        var account: Account
        var index: Int?
    }

    /// One document read and parsed, not yet decoded: its credentials must be known to every
    /// other document's accounts before any account is decoded.
    struct Document: Sendable {
        var value: JSONValue
        var source: String
        var baseDirectory: String?
        var form: DocumentForm
    }

    /// Reads and parses a file; the file is the source label and its directory the base for
    /// relative paths inside it.
    static func readDocument(atPath path: String, form: DocumentForm, accepting: FileReading.Accepting = .regularFiles,
                             log: inout ReadLog) throws(ConfigError) -> Document {
        let bytes: [UInt8]
        do throws(FileReading.Failure) {
            bytes = try FileReading.readAll(path: path, accepting: accepting)
        } catch {
            throw ConfigError(source: path, message: "cannot read file: \(error.reason)")
        }
        log.file(path, bytes: bytes)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parseDocument(bytes, source: path, baseDirectory: directory, form: form)
    }

    static func parseDocument(_ data: [UInt8], source: String, baseDirectory: String?, form: DocumentForm) throws(ConfigError) -> Document {
        do throws(JSONParser.SyntaxError) {
            return Document(value: try JSONParser.parse(data), source: source, baseDirectory: baseDirectory, form: form)
        } catch {
            let position = SourcePosition(byteOffset: error.offset, in: data)
            throw ConfigError(source: source, message: "invalid JSON: \(error.message)", position: position)
        }
    }

    /// A document that is an object with "accounts" or "credentials" is the list form; any
    /// other object is a single account (where the form allows one).
    private static func isListObject(_ members: [JSONMember]) -> Bool {
        members.contains { $0.key == accountsKey || $0.key == SharedCredentials.key }
    }

    /// `"type": "service_account"` is what Google's JSON key files say and no account has (an
    /// unknown field there is an error anyway), so such a file in an accounts directory is a key
    /// that a `service_account_file` names, not an account.
    private static func isServiceAccountKey(_ members: [JSONMember]) -> Bool {
        members.contains { $0.key == "type" && $0.value == .string("service_account") }
    }

    /// Adds the document's `credentials`, if any.
    static func collectCredentials(of document: Document, into credentials: inout SharedCredentials, log: inout ReadLog) throws(ConfigError) {
        guard case .object(let members) = document.value, isListObject(members),
              let named = members.first(where: { $0.key == SharedCredentials.key }) else { return }
        try credentials.add(named.value, source: document.source, baseDirectory: document.baseDirectory, log: &log)
    }

    /// Decodes every account in a document and rejects duplicates within it. A document may
    /// hold only credentials, and then has no accounts.
    static func accounts(of document: Document, credentials: SharedCredentials, log: inout ReadLog) throws(ConfigError) -> [DecodedAccount] {
        let (source, baseDirectory) = (document.source, document.baseDirectory)
        if document.form == .accountOrList, case .object(let members) = document.value, isServiceAccountKey(members) {
            // A Google key file kept in the same Secret as the accounts that use it.
            return []
        }
        if document.form == .accountOrList, case .object(let members) = document.value, !isListObject(members) {
            let account = try AccountDecoding.decode(document.value, index: nil, source: source, baseDirectory: baseDirectory,
                                                     credentials: credentials, log: &log)
            return [DecodedAccount(account: account, index: nil)]
        }
        let (elements, arrayField) = try accountElements(of: document.value, source: source, form: document.form)
        var decoded: [DecodedAccount] = []
        decoded.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            let account = try AccountDecoding.decode(element, index: index, source: source, baseDirectory: baseDirectory,
                                                     credentials: credentials, log: &log)
            decoded.append(DecodedAccount(account: account, index: index))
        }
        if decoded.isEmpty, arrayField != nil || document.value == .array([]) {
            throw ConfigError(source: source, field: arrayField, message: "no accounts")
        }
        try AccountValidation.checkDuplicates(decoded.map(\.account), source: source)
        return decoded
    }

    /// One document on its own: its credentials serve its accounts.
    static func decode(
        _ data: [UInt8], source: String, baseDirectory: String?, form: DocumentForm, log: inout ReadLog
    ) throws(ConfigError) -> [DecodedAccount] {
        let document = try parseDocument(data, source: source, baseDirectory: baseDirectory, form: form)
        return try decode(document, log: &log)
    }

    static func decode(_ document: Document, log: inout ReadLog) throws(ConfigError) -> [DecodedAccount] {
        var credentials = SharedCredentials()
        try collectCredentials(of: document, into: &credentials, log: &log)
        return try accounts(of: document, credentials: credentials, log: &log)
    }

    /// Accepts `{"accounts": [...]}` or a bare `[...]`; returns the elements and the field
    /// name to blame for an empty list (nil for the bare form, which has no field).
    private static func accountElements(of document: JSONValue, source: String, form: DocumentForm) throws(ConfigError) -> ([JSONValue], String?) {
        switch document {
        case .array(let elements):
            return (elements, nil)
        case .object(let members):
            if let unknown = members.first(where: { $0.key != accountsKey && $0.key != SharedCredentials.key }) {
                let hint = editDistance(unknown.key.lowercased(), accountsKey) <= 2 ? " (did you mean \"\(accountsKey)\"?)" : ""
                throw ConfigError(source: source, field: unknown.key, message: "unknown top-level field\(hint)")
            }
            switch members.first(where: { $0.key == accountsKey })?.value {
            case .array(let elements)?:
                return (elements, accountsKey)
            case nil where members.contains(where: { $0.key == SharedCredentials.key }):
                // Credentials only: for accounts in other documents.
                return ([], nil)
            case nil:
                throw ConfigError(source: source, field: accountsKey, message: "is required")
            case let other?:
                throw ConfigError(source: source, field: accountsKey, message: "must be an array of account objects, got \(other.typeName)")
            }
        default:
            let shapes = switch form {
            case .accountList: "an object with an \"accounts\" array, or an array of accounts"
            case .accountOrList: "an account object, an array of accounts, or an object with an \"accounts\" array"
            }
            throw ConfigError(source: source, message: "the top level must be \(shapes); got \(document.typeName)")
        }
    }
}
