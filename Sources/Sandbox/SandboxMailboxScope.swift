/// The mailboxes one credential may send as: listed addresses and whole domains. An application
/// (client_credentials) or a service account (domain-wide delegation) gets one; the SMTP side
/// refuses the credential's tokens with any mailbox outside it.
public struct SandboxMailboxScope: Sendable, Hashable, CustomStringConvertible {
    /// Lowercased, as compared.
    public let mailboxes: Set<String>
    /// Lowercased, without "@".
    public let domains: Set<String>

    public init(mailboxes: some Sequence<String> = [String](), domains: some Sequence<String> = [String]()) {
        self.mailboxes = Set(mailboxes.map { $0.lowercased() })
        self.domains = Set(domains.map { $0.lowercased().drop { $0 == "@" } }.map(String.init))
    }

    public static func mailbox(_ email: String) -> SandboxMailboxScope {
        SandboxMailboxScope(mailboxes: [email])
    }

    public func allows(_ email: String) -> Bool {
        let email = email.lowercased()
        if mailboxes.contains(email) { return true }
        guard let at = email.lastIndex(of: "@") else { return false }
        let local = email[..<at]
        return !local.isEmpty && domains.contains(String(email[email.index(after: at)...]))
    }

    public var description: String {
        (mailboxes.sorted() + domains.sorted().map { "*@" + $0 }).joined(separator: ",")
    }
}
