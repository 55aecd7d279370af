/// How the proxy obtains access tokens for a mailbox. `refresh_token` is one mailbox's own
/// consent; the others are one application credential (or the cluster's identity) that
/// serves every mailbox of an organisation.
public enum GrantType: String, Sendable, Hashable, CaseIterable {
    case refreshToken = "refresh_token"
    case clientCredentials = "client_credentials"
    case serviceAccount = "service_account"
    case workloadIdentity = "workload_identity"
}

/// The resolved grant of one account, with what it needs read in: key material is carried
/// as the bytes the config load read, so an account whose certificate, key or service
/// account file changed compares unequal and gets a new token (and loses a remembered
/// rejection), and an unchanged one keeps its token across reloads.
public enum AccountGrant: Sendable, Hashable {
    /// The mailbox's own refresh token (from `authorize`); client id and secret on the account.
    case refreshToken(String)
    /// Microsoft `client_credentials` with the account's `client_secret`.
    case clientSecret
    /// Microsoft `client_credentials` with a certificate: a PS256 client assertion.
    case clientCertificate(certificate: CredentialFile, privateKey: CredentialFile)
    /// Microsoft `client_credentials` with the Kubernetes-projected token of AKS workload
    /// identity as the assertion. Nil: `$AZURE_FEDERATED_TOKEN_FILE` (set by the AKS webhook),
    /// looked up when a token is needed. The file is read for every request (it rotates).
    case federatedToken(file: String?)
    /// Google domain-wide delegation with a service account's JSON key.
    case serviceAccount(key: CredentialFile)
    /// Google domain-wide delegation keyless on GKE: the metadata server's token signs the
    /// assertion through IAM `signJwt`. Nil host/URL: the standard ones.
    case googleWorkloadIdentity(serviceAccountEmail: String, metadataHost: String?, iamCredentialsURL: String?)

    public var type: GrantType {
        switch self {
        case .refreshToken: .refreshToken
        case .clientSecret, .clientCertificate: .clientCredentials
        case .serviceAccount: .serviceAccount
        case .federatedToken, .googleWorkloadIdentity: .workloadIdentity
        }
    }
}

/// A file a credential was read from: the path for messages and the bytes for use. The bytes
/// may be a private key, so they never print.
public struct CredentialFile: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var path: String
    public var contents: [UInt8]

    public init(path: String, contents: [UInt8]) {
        self.path = path
        self.contents = contents
    }

    public var description: String { "CredentialFile(\(quotedForMessage(path, limit: 512)), \(contents.count) bytes)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["path": path, "contents": "<\(contents.count) bytes>"]) }
}
