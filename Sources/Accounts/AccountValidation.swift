import Foundation

/// The rules a single field value must satisfy. Each returns a problem description or nil;
/// callers attach source/account/field context. No message quotes the value it rejects.
enum AccountValidation {
    /// local@domain with exactly one @. Deliberately loose beyond that: the provider is the
    /// authority on addresses, we only stop values that cannot be an address at all or that
    /// could smuggle SMTP syntax (`<`, `>`, whitespace, CR/LF) into commands built from it.
    static func emailProblem(_ email: String) -> String? {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return "must look like local@domain (exactly one '@')" }
        guard !parts[0].isEmpty, !parts[1].isEmpty else { return "must look like local@domain (both parts non-empty)" }
        let forbidden = email.unicodeScalars.contains { scalar in
            scalar == "<" || scalar == ">" || scalar.properties.isWhitespace || isInvisibleOrControl(scalar)
        }
        if forbidden { return "must not contain whitespace, control characters or angle brackets" }
        return nil
    }

    /// account_id shows up in logs and metrics labels, so it must be printable.
    static func accountIDProblem(_ id: String) -> String? {
        if id.unicodeScalars.contains(where: isInvisibleOrControl) {
            return "must not contain control or invisible characters"
        }
        return nil
    }

    /// For client_id, client_secret and refresh_token: real values never contain control
    /// characters or surrounding whitespace, so either one means a copy-paste accident (the
    /// classic is a trailing newline) that would otherwise surface much later as an opaque
    /// `invalid_grant` from the provider.
    static func credentialProblem(_ value: String) -> String? {
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "must not contain control characters (a pasted line break?)"
        }
        if let first = value.unicodeScalars.first, let last = value.unicodeScalars.last,
           first.properties.isWhitespace || last.properties.isWhitespace {
            return "must not start or end with whitespace"
        }
        return nil
    }

    /// Scopes are space-separated; anything else that is invisible is a mistake.
    static func scopeProblem(_ scope: String) -> String? {
        if scope.unicodeScalars.contains(where: { $0 != " " && isInvisibleOrControl($0) }) {
            return "must not contain control characters; separate scopes with single spaces"
        }
        return nil
    }

    /// A hostname or an IP literal. Catches the classic "smtp.example.com:587" mix-up, which
    /// a resolver would otherwise report far away from the config file.
    static func smtpHostProblem(_ host: String) -> String? {
        let bare = LoopbackHost.unbracketed(host)
        if bare.contains(":") {
            if LoopbackHost.ipv6Bytes(bare) != nil { return nil }
            let pieces = bare.split(separator: ":", omittingEmptySubsequences: false)
            if pieces.count == 2, let port = pieces.last, !port.isEmpty, port.allSatisfy(\.isASCII), port.allSatisfy(\.isNumber) {
                return "must not include a port; put it in \"smtp_port\""
            }
            return "is not a valid hostname or IP address"
        }
        guard bare == host else { return "is not a valid IPv6 address" }
        let allowed = host.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "." || scalar == "-" || scalar == "_")
        }
        guard allowed else {
            return "must be a hostname or IP address (letters, digits, '.', '-', '_'; punycode for international names)"
        }
        // One trailing dot is a legal fully-qualified spelling; any other empty label is not.
        let labels = (host.hasSuffix(".") ? String(host.dropLast()) : host).split(separator: ".", omittingEmptySubsequences: false)
        if labels.contains(where: \.isEmpty) { return "is not a valid hostname (empty label)" }
        return nil
    }

    /// The tenant is pasted into the token URL path, so it must not be able to change the
    /// path's shape. Real tenants are GUIDs, domains, or common/organizations/consumers.
    static func tenantProblem(_ tenant: String) -> String? {
        let allowed = tenant.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "." || scalar == "-" || scalar == "_")
        }
        guard allowed else { return "may contain only letters, digits, '.', '-' and '_'" }
        if tenant == "." || tenant == ".." { return "is not a valid tenant" }
        return nil
    }

    /// Refresh tokens and client secrets travel to this URL, so it must be https; plain
    /// http is tolerated only to loopback, where a local test or sandbox endpoint lives.
    static func tokenURLProblem(_ tokenURL: String) -> String? {
        if tokenURL.contains(tenantPlaceholder) {
            return "contains \(tenantPlaceholder) but no \"tenant\" is set"
        }
        guard let url = URL(string: tokenURL) else { return "is not a valid URL" }
        guard let scheme = url.scheme?.lowercased() else { return "must be an absolute https URL" }
        // Percent-encoded form on purpose: "%31%32%37.0.0.1" must not count as loopback.
        guard let host = url.host(percentEncoded: true), !host.isEmpty else { return "must be a URL with a host" }
        switch scheme {
        case "https":
            return nil
        case "http":
            if LoopbackHost.isLoopback(host) { return nil }
            return "plain-http token URL: http is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https"
        default:
            return "must use https"
        }
    }

    /// Throws for the first account that repeats an earlier email (case-insensitively) or
    /// account_id; the error sits on the later account and names the earlier one.
    static func checkDuplicates(_ accounts: [Account], source: String) throws(ConfigError) {
        var firstIndexByEmail: [String: Int] = [:]
        var firstIndexByID: [String: Int] = [:]
        for (index, account) in accounts.enumerated() {
            let emailKey = emailLookupKey(account.email)
            if let earlier = firstIndexByEmail[emailKey] {
                let other = accounts[earlier]
                throw ConfigError(
                    source: source, accountID: account.accountID, index: index, field: "email",
                    message: "duplicate email \(quotedForMessage(account.email, limit: 256)) (emails match case-insensitively): "
                        + "already used by account \(quotedForMessage(other.accountID, limit: 128)) (#\(earlier + 1))"
                )
            }
            if let earlier = firstIndexByID[account.accountID] {
                throw ConfigError(
                    source: source, accountID: account.accountID, index: index, field: "account_id",
                    message: "duplicate account_id: already used by account #\(earlier + 1)"
                )
            }
            firstIndexByEmail[emailKey] = index
            firstIndexByID[account.accountID] = index
        }
    }

    /// One place decides what "the same email" means, for both duplicate checks and lookup.
    static func emailLookupKey(_ email: String) -> String {
        email.lowercased()
    }
}
