/// The grant part of an account: which fields each grant needs, the files it reads, and the
/// defaults it brings (scope, token URL). Key material is only read and sanity-checked here
/// (PEM markers, the service-account JSON's fields); the relay parses the keys themselves.
enum AccountGrantDecoding {
    struct Decoded {
        var grant: AccountGrant
        /// Shown on status pages; for Google service accounts their client_email.
        var clientID: String
        var clientSecret: String?
        /// The token URL when the account sets none and the provider has no default for this
        /// grant: the service-account key's `token_uri`.
        var tokenURL: String?
        var defaultScope: String?
    }

    static let microsoftAppOnlyScope = "https://outlook.office365.com/.default"
    static let googleMailScope = "https://mail.google.com/"
    static let googleTokenURL = "https://oauth2.googleapis.com/token"

    /// Fields only some grants use. One set for another grant is a mistake (a half-edited
    /// account) worth stopping for, not a value to ignore.
    static let grantsUsing: [AccountField: Set<GrantType>] = [
        .refreshToken: [.refreshToken],
        .clientID: [.refreshToken, .clientCredentials, .workloadIdentity],
        .clientSecret: [.refreshToken, .clientCredentials],
        .certificateFile: [.clientCredentials],
        .privateKeyFile: [.clientCredentials],
        .serviceAccountFile: [.serviceAccount],
        .federatedTokenFile: [.workloadIdentity],
        .serviceAccountEmail: [.workloadIdentity],
        .metadataHost: [.workloadIdentity],
        .iamCredentialsURL: [.workloadIdentity],
    ]

    static func decode(_ type: GrantType, reader: AccountFieldReader, provider: Provider, tenantGiven: Bool, tenant: String?,
                       baseDirectory: String?, log: inout ReadLog) throws(ConfigError) -> Decoded {
        for field in AccountField.allCases {
            guard let grants = grantsUsing[field], !grants.contains(type) else { continue }
            if let value = reader.members[field.rawValue], value != .null {
                throw reader.error(field, "is not used with grant \"\(type.rawValue)\"")
            }
        }
        switch type {
        case .refreshToken:
            let clientID = try credential(.clientID, reader.requiredString(.clientID), reader)
            let clientSecret = provider.requiresClientSecret
                ? try reader.requiredString(.clientSecret, because: "for provider \"\(provider.rawValue)\"")
                : try reader.optionalString(.clientSecret)
            _ = try clientSecret.map { (value) throws(ConfigError) in try credential(.clientSecret, value, reader) }
            let refreshToken = try credential(.refreshToken, reader.requiredString(.refreshToken), reader)
            return Decoded(grant: .refreshToken(refreshToken), clientID: clientID, clientSecret: clientSecret,
                           tokenURL: nil, defaultScope: provider.defaultScope)

        case .clientCredentials:
            guard provider != .gmail else {
                throw reader.error(.grant, "Google has no client_credentials grant for mail; use \"service_account\" (domain-wide delegation) or \"workload_identity\"")
            }
            let clientID = try credential(.clientID, reader.requiredString(.clientID), reader)
            try requireOrganisationTenant(reader, provider: provider, tenantGiven: tenantGiven, tenant: tenant)
            let grant: AccountGrant
            var clientSecret: String?
            switch (try reader.optionalString(.clientSecret), try reader.optionalString(.certificateFile), try reader.optionalString(.privateKeyFile)) {
            case (let secret?, nil, nil):
                clientSecret = try credential(.clientSecret, secret, reader)
                grant = .clientSecret
            case (nil, let certificate?, let key?):
                grant = .clientCertificate(
                    certificate: try CredentialFileCheck.pem(.certificateFile, certificate, marker: "CERTIFICATE", reader, baseDirectory, &log),
                    privateKey: try CredentialFileCheck.pem(.privateKeyFile, key, marker: "PRIVATE KEY", reader, baseDirectory, &log))
            case (nil, _?, nil):
                throw reader.error(.privateKeyFile, "is required with certificate_file")
            case (nil, nil, _?):
                throw reader.error(.certificateFile, "is required with private_key_file")
            case (nil, nil, nil):
                throw reader.error(.clientSecret, "or certificate_file and private_key_file: grant \"client_credentials\" needs one of them")
            case (_?, _, _):
                throw reader.error(.clientSecret, "is set together with a certificate; set either client_secret or certificate_file and private_key_file")
            }
            return Decoded(grant: grant, clientID: clientID, clientSecret: clientSecret, tokenURL: nil,
                           defaultScope: provider == .outlook ? microsoftAppOnlyScope : nil)

        case .serviceAccount:
            guard provider != .outlook else {
                throw reader.error(.grant, "Microsoft has no service accounts; use \"client_credentials\" (an app registration) or \"workload_identity\"")
            }
            let (file, key) = try CredentialFileCheck.serviceAccountKey(reader.requiredString(.serviceAccountFile), reader, baseDirectory, &log)
            return Decoded(grant: .serviceAccount(key: file), clientID: key.clientEmail, clientSecret: nil,
                           tokenURL: key.tokenURI ?? googleTokenURL, defaultScope: googleMailScope)

        case .workloadIdentity:
            switch provider {
            case .outlook:
                let clientID = try credential(.clientID, reader.requiredString(.clientID, because: "(the app registration the cluster's service account is federated with)"), reader)
                try requireOrganisationTenant(reader, provider: provider, tenantGiven: tenantGiven, tenant: tenant)
                let file = try reader.optionalString(.federatedTokenFile).map { CAFileCheck.resolve($0, baseDirectory: baseDirectory) }
                return Decoded(grant: .federatedToken(file: file), clientID: clientID, clientSecret: nil, tokenURL: nil,
                               defaultScope: microsoftAppOnlyScope)
            case .gmail:
                let email = try reader.requiredString(.serviceAccountEmail, because: "(the Google service account the pod's Kubernetes service account may impersonate)")
                if let problem = AccountValidation.emailProblem(email) { throw reader.error(.serviceAccountEmail, problem) }
                let host = try reader.optionalString(.metadataHost)
                if let host, host.contains("/") || host.unicodeScalars.contains(where: isInvisibleOrControl) {
                    throw reader.error(.metadataHost, "must be a host or host:port, without a scheme or path")
                }
                let iamURL = try reader.optionalString(.iamCredentialsURL)
                if let iamURL, let problem = AccountValidation.tokenURLProblem(iamURL) { throw reader.error(.iamCredentialsURL, problem) }
                return Decoded(grant: .googleWorkloadIdentity(serviceAccountEmail: email, metadataHost: host, iamCredentialsURL: iamURL),
                               clientID: email, clientSecret: nil, tokenURL: nil, defaultScope: googleMailScope)
            case .custom:
                throw reader.error(.grant, "\"workload_identity\" works with provider \"outlook\" (AKS) or \"gmail\" (GKE)")
            }
        }
    }

    private static func credential(_ field: AccountField, _ value: String, _ reader: AccountFieldReader) throws(ConfigError) -> String {
        if let problem = AccountValidation.credentialProblem(value) { throw reader.error(field, problem) }
        return value
    }

    /// App-only tokens are issued by one organisation's directory; "common" has none to issue them.
    private static func requireOrganisationTenant(_ reader: AccountFieldReader, provider: Provider, tenantGiven: Bool, tenant: String?) throws(ConfigError) {
        guard provider == .outlook, reader.members[AccountField.tokenURL.rawValue] == nil else { return }
        guard tenantGiven, let tenant else {
            throw reader.error(.tenant, "is required for an app-only grant: the organisation's directory (tenant) ID or a verified domain such as contoso.onmicrosoft.com")
        }
        if ["common", "organizations", "consumers"].contains(tenant.lowercased()) {
            throw reader.error(.tenant, "must name one organisation (its directory ID or a verified domain) for an app-only grant, not \"\(tenant.lowercased())\"")
        }
    }
}
