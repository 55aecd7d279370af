/// The grant types the sandbox serves, as they appear in `grant_type`, and the names its
/// Google endpoints are counted under.
public enum SandboxGrantType {
    public static let refreshToken = "refresh_token"
    public static let clientCredentials = "client_credentials"
    public static let jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    public static let deviceCode = "urn:ietf:params:oauth:grant-type:device_code"
    public static let authorizationCode = "authorization_code"
    /// GET …/service-accounts/default/token on the metadata server.
    public static let metadataToken = "gce_metadata"
    /// POST …/serviceAccounts/{email}:signJwt.
    public static let signJWT = "sign_jwt"
}

/// One request to the token endpoint (or the metadata server / signJwt), as tests see it.
public struct SandboxTokenRequest: Sendable, Equatable, CustomStringConvertible {
    public let grantType: String
    /// The client id, or the service account's email (jwt-bearer `iss`, signJwt's account).
    public let client: String?
    /// How the client authenticated: "secret", "certificate", "federated" (client_credentials),
    /// "assertion" (jwt-bearer), or nil.
    public let credential: String?
    /// jwt-bearer: the assertion's `sub` (the mailbox); device and authorization code: the mailbox approved.
    public let subject: String?
    public let status: Int

    public var description: String {
        "\(grantType) client=\(client ?? "-") credential=\(credential ?? "-") subject=\(subject ?? "-") status=\(status)"
    }
}

/// Counts every request by (grant type, client) for as long as the issuer lives, and keeps the
/// newest requests in detail, bounded so benchmark runs do not grow it without limit.
struct SandboxTokenRequestLog {
    static let detailLimit = 10_000

    private struct Key: Hashable {
        var grantType: String
        var client: String?
    }

    private var counts: [Key: Int] = [:]
    private(set) var recent: [SandboxTokenRequest] = []

    mutating func record(_ request: SandboxTokenRequest) {
        counts[Key(grantType: request.grantType, client: request.client), default: 0] += 1
        if recent.count >= Self.detailLimit { recent.removeFirst(recent.count / 2) }
        recent.append(request)
    }

    func count(grantType: String?, client: String?) -> Int {
        counts.reduce(0) { sum, entry in
            let matches = (grantType == nil || entry.key.grantType == grantType)
                && (client == nil || entry.key.client?.lowercased() == client?.lowercased())
            return matches ? sum + entry.value : sum
        }
    }
}
