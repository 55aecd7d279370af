import Foundation

/// Reads accounts.json (or the same JSON from another source, such as an environment
/// variable) into a validated `AccountDirectory`. Stops at the first problem; every error
/// names the source, and where applicable the account and field.
public enum AccountsConfigLoader {
    /// The only key allowed at the top of the object form.
    static let accountsKey = "accounts"

    /// Unreadable file -> `ConfigError(field: nil, message: "cannot read file: …")`.
    /// Relative `tls_ca_file` paths resolve against the file's directory.
    public static func load(contentsOf path: String) throws(ConfigError) -> AccountDirectory {
        let bytes: [UInt8]
        do throws(FileReading.Failure) {
            bytes = try FileReading.readAll(path: path)
        } catch {
            throw ConfigError(source: path, message: "cannot read file: \(error.reason)")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parse(bytes, source: path, baseDirectory: directory)
    }

    /// `source` labels errors (a path, or e.g. "env XOAUTH2_PROXY_ACCOUNTS"). Relative
    /// `tls_ca_file` paths resolve against `baseDirectory`, or the working directory if nil.
    public static func parse(_ data: [UInt8], source: String, baseDirectory: String? = nil) throws(ConfigError) -> AccountDirectory {
        let document: JSONValue
        do throws(JSONParser.SyntaxError) {
            document = try JSONParser.parse(data)
        } catch {
            let position = SourcePosition(byteOffset: error.offset, in: data)
            throw ConfigError(source: source, message: "invalid JSON: \(error.message)", position: position)
        }

        let (elements, arrayField) = try accountElements(of: document, source: source)
        guard !elements.isEmpty else {
            throw ConfigError(source: source, field: arrayField, message: "no accounts")
        }
        var accounts: [Account] = []
        accounts.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            accounts.append(try AccountDecoding.decode(element, index: index, source: source, baseDirectory: baseDirectory))
        }
        return try AccountDirectory(accounts: accounts, source: source)
    }

    public static func parse(_ data: Data, source: String, baseDirectory: String? = nil) throws(ConfigError) -> AccountDirectory {
        try parse([UInt8](data), source: source, baseDirectory: baseDirectory)
    }

    /// For JSON held in a string, e.g. an environment variable.
    public static func parse(_ text: String, source: String, baseDirectory: String? = nil) throws(ConfigError) -> AccountDirectory {
        try parse(Array(text.utf8), source: source, baseDirectory: baseDirectory)
    }

    /// Accepts `{"accounts": [...]}` or a bare `[...]`; returns the elements and the field
    /// name to blame for an empty list (nil for the bare form, which has no field).
    private static func accountElements(of document: JSONValue, source: String) throws(ConfigError) -> ([JSONValue], String?) {
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
            throw ConfigError(
                source: source,
                message: "the top level must be an object with an \"accounts\" array, or an array of accounts; got \(document.typeName)"
            )
        }
    }
}
