/// One mailbox the proxy relays for: how apps log in to us, how we get tokens for it, and
/// where we send its mail. Values are fully resolved: provider defaults are applied and
/// `{tenant}` is substituted, so consumers never look at the provider to fill gaps.
///
/// `description`, `debugDescription` and the reflection mirror redact every secret; see
/// Account+Redaction.swift.
public struct Account: Sendable, Hashable {
    public var accountID: String
    public var email: String
    public var provider: Provider
    public var clientID: String
    public var clientSecret: String?
    /// How tokens are obtained; see `AccountGrant`.
    public var grant: AccountGrant
    /// The shared `credentials` entry the grant came from, if any (for status and logs).
    public var credentialName: String?
    /// What the app sends as its SMTP password. Nil means the account cannot log in.
    public var password: String?
    /// Resolved: defaults applied, `{tenant}` substituted.
    public var tokenURL: String
    public var scope: String?
    public var tenant: String?
    public var smtpHost: String
    public var smtpPort: Int
    public var smtpTLS: SMTPTLSMode
    /// Extra trust anchor (PEM) for the upstream SMTP server's certificate.
    public var tlsCAFile: String?
    public var maxConnections: Int
    public var maxMessagesPerConnection: Int
    /// Resolved: each field the config leaves out has the provider's default.
    public var limits: AccountLimits

    public static let defaultMaxMessagesPerConnection = 100

    /// Builds an account by hand, filling gaps the way the loader does: a nil `accountID`
    /// becomes the email; nil `tokenURL`, `scope`, `tenant`, `smtpHost`, `smtpPort` and
    /// `maxConnections` take the provider's defaults; nil `limits` become
    /// `AccountLimits.defaults(for:maxConnections:)` with the resolved `maxConnections`, so a
    /// hand-built account is throttled like a loaded one. Because nil means "default", an
    /// outlook account without any scope can only be had by setting `scope = nil` afterwards.
    ///
    /// `grant` wins over `refreshToken`; with neither, the grant is an empty refresh token.
    ///
    /// Nothing is validated here (that is the loader's job); a `custom` account with no
    /// `tokenURL`/`smtpHost` gets empty strings.
    public init(
        accountID: String? = nil,
        email: String,
        provider: Provider,
        clientID: String,
        clientSecret: String? = nil,
        refreshToken: String? = nil,
        grant: AccountGrant? = nil,
        credentialName: String? = nil,
        password: String? = nil,
        tokenURL: String? = nil,
        scope: String? = nil,
        tenant: String? = nil,
        smtpHost: String? = nil,
        smtpPort: Int? = nil,
        smtpTLS: SMTPTLSMode = .starttls,
        tlsCAFile: String? = nil,
        maxConnections: Int? = nil,
        maxMessagesPerConnection: Int = Account.defaultMaxMessagesPerConnection,
        limits: AccountLimits? = nil
    ) {
        let resolvedTenant = tenant ?? provider.defaultTenant
        self.accountID = accountID ?? email
        self.email = email
        self.provider = provider
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.grant = grant ?? .refreshToken(refreshToken ?? "")
        self.credentialName = credentialName
        self.password = password
        self.tokenURL = tokenURL.map { substitutingTenant(in: $0, tenant: resolvedTenant) }
            ?? provider.defaultTokenURL(tenant: resolvedTenant)
            ?? ""
        self.scope = scope ?? provider.defaultScope
        self.tenant = resolvedTenant
        self.smtpHost = smtpHost ?? provider.defaultSMTPHost ?? ""
        self.smtpPort = smtpPort ?? smtpTLS.defaultPort
        self.smtpTLS = smtpTLS
        self.tlsCAFile = tlsCAFile
        let resolvedMaxConnections = maxConnections ?? provider.defaultMaxConnections
        self.maxConnections = resolvedMaxConnections
        self.maxMessagesPerConnection = maxMessagesPerConnection
        self.limits = limits ?? AccountLimits.defaults(for: provider, maxConnections: resolvedMaxConnections)
    }

    /// The mailbox's own refresh token; nil for the app-only and keyless grants.
    public var refreshToken: String? {
        if case .refreshToken(let token) = grant { return token }
        return nil
    }

    /// An account without a configured password exists only so mail can be attributed to it
    /// (or so it can be enabled later); nobody can authenticate as it.
    public var canLogIn: Bool {
        password != nil
    }

    /// The SMTP AUTH password check, in constant time. Always false when no password is set,
    /// so an empty submitted password can never match a missing one.
    public func passwordMatches(_ candidate: String) -> Bool {
        guard let password else { return false }
        return constantTimeEquals(password, candidate)
    }
}
