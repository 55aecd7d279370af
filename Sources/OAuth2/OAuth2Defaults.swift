/// Provider endpoints and scopes the configuration falls back to; `token_url` and `scope` given
/// by the user override them.
public enum OAuth2Defaults {
    /// Microsoft identity platform v2 token endpoint for a tenant (ID, domain, `organizations`...).
    public static func microsoftTokenURL(tenant: String) -> String {
        let tenant = tenant.addingPercentEncodingForPathSegment()
        return "https://login.microsoftonline.com/\(tenant)/oauth2/v2.0/token"
    }

    /// App-only access to Exchange Online (SMTP.SendAsApp is granted under this resource).
    public static let microsoftClientCredentialsScope = "https://outlook.office365.com/.default"
    /// Gmail, full mail scope: the only one SMTP XOAUTH2 accepts.
    public static let googleMailScope = "https://mail.google.com/"
    /// Where Google's key files point `token_uri`; used when a key file has none, and for workload identity.
    public static let googleTokenURL = "https://oauth2.googleapis.com/token"
    public static let jwtBearerGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    public static let jwtBearerClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
}

extension OAuth2Credentials {
    /// App-only Microsoft 365: `client_credentials` at the tenant's v2 endpoint with the Exchange
    /// `.default` scope, unless `tokenURL` / `scope` are given.
    public static func microsoftClientCredentials(tenant: String, clientID: String, authentication: ClientAuthentication,
                                                  tokenURL: String? = nil, scope: String? = nil) -> OAuth2Credentials {
        OAuth2Credentials(tokenURL: tokenURL ?? OAuth2Defaults.microsoftTokenURL(tenant: tenant), clientID: clientID,
                          grant: .clientCredentials(authentication),
                          scope: scope ?? OAuth2Defaults.microsoftClientCredentialsScope)
    }

    /// Google domain-wide delegation with a key file, for one mailbox (`subject`). The token URL is
    /// the key's `token_uri` unless `tokenURL` is given; `clientID` is the key's `client_email`.
    public static func googleServiceAccount(key: ServiceAccountKey, subject: String,
                                            tokenURL: String? = nil, scope: String? = nil) -> OAuth2Credentials {
        OAuth2Credentials(tokenURL: tokenURL ?? key.tokenURI, clientID: key.clientEmail,
                          grant: .serviceAccount(key, subject: subject),
                          scope: scope ?? OAuth2Defaults.googleMailScope)
    }

    /// Google domain-wide delegation through GKE workload identity, for one mailbox.
    public static func googleWorkloadIdentity(_ identity: GoogleWorkloadIdentity,
                                              tokenURL: String? = nil, scope: String? = nil) -> OAuth2Credentials {
        OAuth2Credentials(tokenURL: tokenURL ?? OAuth2Defaults.googleTokenURL, clientID: identity.serviceAccountEmail,
                          grant: .googleWorkloadIdentity(identity),
                          scope: scope ?? OAuth2Defaults.googleMailScope)
    }
}

extension String {
    func addingPercentEncodingForPathSegment() -> String {
        FormURLEncoding.percentEncode(self)
    }
}
