/// A certificate, private key or service-account key file that cannot be used. The wording
/// names the part and the reason and never quotes the input: these files hold key material.
public struct OAuth2CredentialError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Part: String, Sendable, Hashable {
        case certificate
        case privateKey = "private key"
        case serviceAccountKey = "service account key"
    }

    public var part: Part
    /// For service-account keys: the JSON field at fault (`client_email`, `private_key`, ...).
    public var field: String?
    public var reason: String

    public init(part: Part, field: String? = nil, reason: String) {
        self.part = part
        self.field = field
        self.reason = reason
    }

    public var description: String {
        if let field { return "\(part.rawValue): \(field): \(reason)" }
        return "\(part.rawValue): \(reason)"
    }
}
