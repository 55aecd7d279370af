/// Why a state URL was refused. Names the part of the URL and the rule it breaks; by design it
/// carries no text from the URL (see `FleetStateURL`).
public enum FleetStateURLError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Field: String, Sendable, Hashable {
        case scheme, user, password, host, port, database, query
        case sslMode = "sslmode"
    }

    case empty
    case missing(Field)
    case invalid(field: Field, rule: String)
    /// `XOAUTH2_PROXY_STATE_URL_FILE` could not be read; `reason` is the system's, never the content.
    case unreadableFile(path: String, reason: String)
    case fileTooLarge(path: String, limit: Int)

    public var description: String {
        switch self {
        case .empty: "state URL: empty"
        case .missing(let field): "state URL: \(field.rawValue) is missing (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE?sslmode=disable|require|verify-full)"
        case .invalid(let field, let rule): "state URL: \(field.rawValue) \(rule)"
        case .unreadableFile(let path, let reason): "state URL file \(path): \(reason)"
        case .fileTooLarge(let path, let limit): "state URL file \(path): larger than \(limit) bytes, not a URL"
        }
    }
}
