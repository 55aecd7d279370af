/// How an account (or a credential shared by many accounts) obtains access tokens.
public enum OAuth2Grant: Sendable, Hashable {
    /// The refresh-token grant: one account's delegated consent.
    case refreshToken(String)
    /// App-only (Microsoft): one application token serves every mailbox the app may use.
    case clientCredentials(ClientAuthentication)
    /// Google domain-wide delegation: a JWT signed with the service account's key, `sub` = the mailbox.
    case serviceAccount(ServiceAccountKey, subject: String)
    /// Google domain-wide delegation without a key: the JWT is signed by IAM for the workload's identity.
    case googleWorkloadIdentity(GoogleWorkloadIdentity)

    /// The name used in configuration and logs.
    public var name: String {
        switch self {
        case .refreshToken: "refresh_token"
        case .clientCredentials(.federatedTokenFile): "workload_identity"
        case .clientCredentials: "client_credentials"
        case .serviceAccount: "service_account"
        case .googleWorkloadIdentity: "workload_identity"
        }
    }
}

/// How a confidential client proves itself in a `client_credentials` request.
public enum ClientAuthentication: Sendable, Hashable {
    case secret(String)
    /// A `client_assertion` JWT signed PS256 with the certificate's key.
    case certificate(ClientCertificate)
    /// A `client_assertion` read from a file for every request (AKS workload identity: the kubelet
    /// rotates the projected token in place).
    case federatedTokenFile(path: String)
}

extension OAuth2Grant: CustomStringConvertible, CustomDebugStringConvertible {
    /// Redacted: refresh tokens and keys never reach a log line through interpolation.
    public var description: String {
        switch self {
        case .refreshToken: "refresh_token(<redacted>)"
        case .clientCredentials(let authentication): "client_credentials(\(authentication))"
        case .serviceAccount(let key, let subject): "service_account(\(key), subject: \(subject))"
        case .googleWorkloadIdentity(let identity): "workload_identity(\(identity))"
        }
    }

    public var debugDescription: String { description }
}

extension ClientAuthentication: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        switch self {
        case .secret: "secret(<redacted>)"
        case .certificate(let certificate): "\(certificate)"
        case .federatedTokenFile(let path): "federatedTokenFile(\(path))"
        }
    }

    public var debugDescription: String { description }
}
