import Foundation
import _CryptoExtras

/// A token request the issuer refuses, with the reply to send.
struct SandboxRefusal: Error {
    let outcome: SandboxTokenOutcome

    /// Entra ID's 401 for a client that did not prove itself.
    static func invalidClient(_ code: Int, _ description: String) -> SandboxRefusal {
        SandboxRefusal(outcome: .microsoftError(status: 401, code: "invalid_client", description: description, errorCodes: [code]))
    }

    static func microsoft(_ status: Int, _ error: String, _ code: Int, _ description: String) -> SandboxRefusal {
        SandboxRefusal(outcome: .microsoftError(status: status, code: error, description: description, errorCodes: [code]))
    }
}

/// Entra ID's checks of a `client_assertion` (RFC 7523 client authentication), for certificate
/// credentials and federated ones. The rules are Microsoft's documented ones
/// (learn.microsoft.com, "Microsoft identity platform certificate credentials" and "workload
/// identity federation"); the AADSTS numbers are the ones Entra ID answers for these cases.
enum SandboxClientAssertion {
    static let type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// How far a clock may be ahead of ours before nbf/iat count as "in the future".
    static let allowedSkew: Double = 60
    /// Entra ID refuses certificate assertions valid for longer than this.
    static let maximumLifetime: Double = 600

    struct Context {
        var clientID: String
        /// The token URLs this request may name as `aud` (as configured, and as served to this request).
        var audiences: Set<String>
        /// Seconds since the epoch, by the issuer's clock.
        var now: Double
        var federatedIssuerURL: String
        var federatedIssuer: SandboxFederatedTokenIssuer?
    }

    /// Checks `assertion` for `application`; `seenIDs` (jti → exp) is where replays are caught and
    /// is updated on success. Returns which kind of credential it was ("certificate" or "federated").
    static func verify(_ assertion: String, application: SandboxApplication, context: Context,
                       seenIDs: inout [String: Double]) throws(SandboxRefusal) -> String {
        let jwt: SandboxJWT
        do {
            jwt = try SandboxJWT(compact: assertion)
        } catch {
            throw .invalidClient(50027, "JWT token is invalid or malformed.")
        }
        if jwt.string("iss") == context.federatedIssuerURL || application.certificates.isEmpty {
            try verifyFederated(jwt, application: application, context: context)
            return "federated"
        }
        try verifyCertificate(jwt, application: application, context: context, seenIDs: &seenIDs)
        return "certificate"
    }

    private static func verifyCertificate(_ jwt: SandboxJWT, application: SandboxApplication, context: Context,
                                          seenIDs: inout [String: Double]) throws(SandboxRefusal) {
        guard jwt.headerString("alg") == "PS256" else {
            throw .invalidClient(5002738, "Invalid JWT token. '\(jwt.headerString("alg") ?? "none")' is not a supported signature algorithm; use PS256 with x5t#S256.")
        }
        guard let thumbprint = jwt.headerString("x5t#S256") else {
            throw .invalidClient(700027, "Client assertion contains no x5t#S256 header naming the certificate used to sign it.")
        }
        guard let certificate = application.certificates.first(where: { $0.thumbprint == thumbprint }) else {
            throw .invalidClient(700027, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found.]")
        }
        guard jwt.verifies(with: certificate.publicKey, padding: .PSS) else {
            throw .invalidClient(700027, "Client assertion failed signature validation.")
        }
        guard jwt.string("iss") == context.clientID, jwt.string("sub") == context.clientID else {
            throw .invalidClient(700021, "Client assertion application identifier doesn't match 'client_id' parameter (iss and sub must both be the client id).")
        }
        guard jwt.audiences.contains(where: context.audiences.contains) else {
            throw .invalidClient(700023, "Client assertion audience claim does not match Realm issuer (aud must be the token endpoint URL).")
        }
        guard let exp = jwt.seconds("exp"), exp > context.now else {
            throw .invalidClient(700024, "Client assertion is not within its valid time range (expired or no exp).")
        }
        guard exp - context.now <= maximumLifetime + allowedSkew else {
            throw .invalidClient(700024, "Client assertion is not within its valid time range (exp more than 10 minutes ahead).")
        }
        for claim in ["nbf", "iat"] {
            if let value = jwt.seconds(claim), value > context.now + allowedSkew {
                throw .invalidClient(700024, "Client assertion is not within its valid time range (\(claim) in the future).")
            }
        }
        guard let jti = jwt.string("jti"), !jti.isEmpty else {
            throw .invalidClient(50027, "JWT token is invalid or malformed (no jti).")
        }
        guard seenIDs[jti] == nil else {
            throw .invalidClient(7000274, "Client assertion has been used before (replayed jti).")
        }
        // An expired assertion fails the exp check, so its jti need not be remembered longer.
        if seenIDs.count >= 4096 {
            seenIDs = seenIDs.filter { $0.value > context.now }
        }
        seenIDs[jti] = exp
    }

    /// A projected service account token is reused for every request during its lifetime (the
    /// kubelet rotates the file), so there is no replay or lifetime limit here, as in Entra ID.
    private static func verifyFederated(_ jwt: SandboxJWT, application: SandboxApplication, context: Context) throws(SandboxRefusal) {
        guard !application.federatedSubjects.isEmpty else {
            throw .invalidClient(700027, "The certificate with identifier used to sign the client assertion is not registered on application.")
        }
        guard let federatedIssuer = context.federatedIssuer, jwt.headerString("alg") == "RS256", jwt.headerString("kid") == federatedIssuer.keyID,
              jwt.verifies(with: federatedIssuer.key.publicKey, padding: .insecurePKCS1v1_5) else {
            throw .invalidClient(700027, "Client assertion failed signature validation (not signed by the federated issuer's key).")
        }
        guard jwt.string("iss") == context.federatedIssuerURL else {
            throw .invalidClient(700211, "No matching federated identity record found for presented assertion issuer '\(jwt.string("iss") ?? "")'.")
        }
        guard let subject = jwt.string("sub"), application.federatedSubjects.contains(subject) else {
            throw .invalidClient(700213, "No matching federated identity record found for presented assertion subject '\(jwt.string("sub") ?? "")'.")
        }
        guard jwt.audiences.contains(SandboxFederatedTokenIssuer.audience) else {
            throw .invalidClient(700212, "No matching federated identity record found for presented assertion audience.")
        }
        guard let exp = jwt.seconds("exp"), exp > context.now else {
            throw .invalidClient(700024, "Client assertion is not within its valid time range (expired or no exp).")
        }
        if let nbf = jwt.seconds("nbf"), nbf > context.now + allowedSkew {
            throw .invalidClient(700024, "Client assertion is not within its valid time range (nbf in the future).")
        }
    }
}
