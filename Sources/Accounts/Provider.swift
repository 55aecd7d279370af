import Foundation

/// Which OAuth2 provider an account belongs to; decides the defaults filled in for fields the
/// config leaves out.
public enum Provider: String, Sendable, Hashable, CaseIterable {
    case gmail, outlook, custom

    /// Token endpoint; `{tenant}` is substituted with the account's tenant. Nil for `custom`,
    /// which has no sensible default and must spell its endpoint out.
    public var defaultTokenURLTemplate: String? {
        switch self {
        case .gmail: "https://oauth2.googleapis.com/token"
        case .outlook: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
        case .custom: nil
        }
    }

    /// Microsoft issues SMTP-capable tokens only when the scope is asked for on refresh;
    /// Google's refresh tokens already carry the scope they were granted with.
    public var defaultScope: String? {
        switch self {
        case .outlook: "https://outlook.office.com/SMTP.Send offline_access"
        case .gmail, .custom: nil
        }
    }

    /// Only meaningful for Microsoft's multi-tenant endpoints.
    public var defaultTenant: String? {
        self == .outlook ? "common" : nil
    }

    public var defaultSMTPHost: String? {
        switch self {
        case .gmail: "smtp.gmail.com"
        case .outlook: "smtp.office365.com"
        case .custom: nil
        }
    }

    /// Microsoft 365 throttles concurrent SMTP sessions per mailbox harder than Google does.
    public var defaultMaxConnections: Int {
        switch self {
        case .gmail: 5
        case .outlook: 3
        case .custom: 5
        }
    }

    // Sending quotas, 0 meaning none. The proxy enforces them itself so that a burst is held
    // back locally instead of being refused mid-transaction or getting the mailbox suspended.

    /// Exchange Online rejects more than 30 messages per minute from one mailbox.
    public var defaultMaxMessagesPerMinute: Int {
        self == .outlook ? 30 : 0
    }

    /// Neither provider publishes an hourly cap.
    public var defaultMaxMessagesPerHour: Int {
        0
    }

    /// Google Workspace allows 2,000 messages per user per day. (Consumer gmail.com accounts
    /// are held to 500; set max_messages_per_day for those.)
    public var defaultMaxMessagesPerDay: Int {
        self == .gmail ? 2000 : 0
    }

    /// Google Workspace and Exchange Online both cap a mailbox at 10,000 recipients a day.
    public var defaultMaxRecipientsPerDay: Int {
        switch self {
        case .gmail, .outlook: 10_000
        case .custom: 0
        }
    }

    /// Outlook apps may be registered as public clients, which have no secret.
    public var requiresClientSecret: Bool {
        self != .outlook
    }

    /// The token URL with `{tenant}` filled in, or nil when the provider has no default.
    public func defaultTokenURL(tenant: String?) -> String? {
        guard let template = defaultTokenURLTemplate else { return nil }
        return substitutingTenant(in: template, tenant: tenant ?? defaultTenant)
    }
}

/// The placeholder a token URL may carry for the account's tenant.
let tenantPlaceholder = "{tenant}"

func substitutingTenant(in template: String, tenant: String?) -> String {
    guard let tenant else { return template }
    return template.replacingOccurrences(of: tenantPlaceholder, with: tenant)
}
