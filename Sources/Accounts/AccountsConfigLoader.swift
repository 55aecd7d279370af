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
        let decoded = try decodeFile(atPath: path, form: .accountList, accepting: .regularFilesAndPipes, log: &log)
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

    /// Reads and decodes a file; the file is the source label and its directory the base
    /// for relative paths inside it.
    static func decodeFile(atPath path: String, form: DocumentForm, accepting: FileReading.Accepting = .regularFiles,
                           log: inout ReadLog) throws(ConfigError) -> [DecodedAccount] {
        let bytes: [UInt8]
        do throws(FileReading.Failure) {
            bytes = try FileReading.readAll(path: path, accepting: accepting)
        } catch {
            throw ConfigError(source: path, message: "cannot read file: \(error.reason)")
        }
        log.file(path, bytes: bytes)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try decode(bytes, source: path, baseDirectory: directory, form: form, log: &log)
    }

    /// Decodes every account in a document and rejects duplicates within it.
    static func decode(
        _ data: [UInt8], source: String, baseDirectory: String?, form: DocumentForm, log: inout ReadLog
    ) throws(ConfigError) -> [DecodedAccount] {
        let document: JSONValue
        do throws(JSONParser.SyntaxError) {
            document = try JSONParser.parse(data)
        } catch {
            let position = SourcePosition(byteOffset: error.offset, in: data)
            throw ConfigError(source: source, message: "invalid JSON: \(error.message)", position: position)
        }

        if form == .accountOrList, case .object(let members) = document, !members.contains(where: { $0.key == accountsKey }) {
            let account = try AccountDecoding.decode(document, index: nil, source: source, baseDirectory: baseDirectory, log: &log)
            return [DecodedAccount(account: account, index: nil)]
        }
        let (elements, arrayField) = try accountElements(of: document, source: source, form: form)
        guard !elements.isEmpty else {
            throw ConfigError(source: source, field: arrayField, message: "no accounts")
        }
        var decoded: [DecodedAccount] = []
        decoded.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            let account = try AccountDecoding.decode(element, index: index, source: source, baseDirectory: baseDirectory, log: &log)
            decoded.append(DecodedAccount(account: account, index: index))
        }
        try AccountValidation.checkDuplicates(decoded.map(\.account), source: source)
        return decoded
    }

    /// Accepts `{"accounts": [...]}` or a bare `[...]`; returns the elements and the field
    /// name to blame for an empty list (nil for the bare form, which has no field).
    private static func accountElements(of document: JSONValue, source: String, form: DocumentForm) throws(ConfigError) -> ([JSONValue], String?) {
        switch document {
        case .array(let elements):
            return (elements, nil)
        case .object(let members):
            if let unknown = members.first(where: { $0.key != accountsKey }) {
                let hint = editDistance(unknown.key.lowercased(), accountsKey) <= 2 ? " (did you mean \"\(accountsKey)\"?)" : ""
                throw ConfigError(source: source, field: unknown.key, message: "unknown top-level field\(hint)")
            }
            switch members.first(where: { $0.key == accountsKey })?.value {
            case .array(let elements)?:
                return (elements, accountsKey)
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
