import Foundation
import _CryptoExtras

/// The sandbox's stand-in for a Kubernetes cluster's OIDC issuer (AKS workload identity): it
/// signs service account tokens (RS256, a key made at start) that an application registered
/// with `.federated(subject:)` trusts as its client assertion.
struct SandboxFederatedTokenIssuer: Sendable {
    /// The audience Entra ID requires of federated credentials.
    static let audience = "api://AzureADTokenExchange"

    let key: _RSA.Signing.PrivateKey
    let keyID: String

    init() throws {
        key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        keyID = SandboxRandomToken.make(prefix: "sbx_kid_")
    }

    func issue(issuer: String, subject: String, audience: String, issuedAt: Int, lifetime: Int) throws -> String {
        let claims: [String: Any] = [
            "iss": issuer, "sub": subject, "aud": [audience],
            "iat": issuedAt, "nbf": issuedAt, "exp": issuedAt + lifetime,
            "jti": UUID().uuidString.lowercased(),
        ]
        let json = try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])
        return try SandboxJWT.signRS256(header: ["alg": "RS256", "kid": keyID, "typ": "JWT"], claimsJSON: json, key: key)
    }
}
