/// The loaded, validated set of accounts, indexed for the per-login lookup.
public struct AccountDirectory: Sendable {
    /// In file order.
    public let accounts: [Account]
    private let indexByEmail: [String: Int]
    private let indexByID: [String: Int]

    /// Re-validates uniqueness of emails (case-insensitively) and account IDs, so a directory
    /// built by hand can never hold two accounts one login could match.
    public init(accounts: [Account]) throws(ConfigError) {
        try self.init(accounts: accounts, source: "accounts")
    }

    /// `source` labels any duplicate error, e.g. the file the accounts came from.
    public init(accounts: [Account], source: String) throws(ConfigError) {
        try AccountValidation.checkDuplicates(accounts, source: source)
        self.accounts = accounts
        var byEmail: [String: Int] = [:]
        var byID: [String: Int] = [:]
        for (index, account) in accounts.enumerated() {
            byEmail[AccountValidation.emailLookupKey(account.email)] = index
            byID[account.accountID] = index
        }
        self.indexByEmail = byEmail
        self.indexByID = byID
    }

    /// Case-insensitive, because apps and users capitalise addresses freely.
    public func account(forEmail email: String) -> Account? {
        indexByEmail[AccountValidation.emailLookupKey(email)].map { accounts[$0] }
    }

    /// Exact match: account IDs are config-file identifiers, not addresses.
    public func account(forID accountID: String) -> Account? {
        indexByID[accountID].map { accounts[$0] }
    }

    public var count: Int {
        accounts.count
    }

    public var isEmpty: Bool {
        accounts.isEmpty
    }
}
