import Foundation
@testable import Sandbox
import Testing
import _CryptoExtras

/// GKE workload identity: the metadata server's token, IAM signJwt with it, and the signed JWT
/// through the jwt-bearer grant. Through the router, as the HTTP handler calls it.
@Suite struct WorkloadIdentityTests {
    private static let metadataPath = "/computeMetadata/v1/instance/service-accounts/default/token"

    private func signPath(_ email: String) -> String {
        "/v1/projects/-/serviceAccounts/\(email):signJwt"
    }

    private func setUp() throws -> (SandboxTokenIssuer, SandboxServiceAccountKey) {
        let issuer = SandboxTokenIssuer()
        issuer.setBaseURL("http://127.0.0.1:9000")
        let key = try issuer.makeServiceAccount(name: "relay", domains: ["acme.com"])
        return (issuer, key)
    }

    private func metadataToken(_ issuer: SandboxTokenIssuer) throws -> String {
        let response = SandboxHTTPRouter.route(method: "GET", uri: Self.metadataPath, headers: [("Metadata-Flavor", "Google")], issuer: issuer)
        #expect(response.status == 200)
        return try #require(try response.json()["access_token"] as? String)
    }

    private func signJwt(_ issuer: SandboxTokenIssuer, email: String, bearer: String?, payload: [String: Any]) throws -> SandboxHTTPResponse {
        let payloadText = String(decoding: try JSONSerialization.data(withJSONObject: payload), as: UTF8.self)
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["payload": payloadText]), as: UTF8.self)
        var headers = [("content-type", "application/json")]
        if let bearer { headers.append(("authorization", "Bearer \(bearer)")) }
        return SandboxHTTPRouter.route(method: "POST", uri: signPath(email), headers: headers, body: body, issuer: issuer)
    }

    @Test func theMetadataServerWantsItsHeader() throws {
        let (issuer, key) = try setUp()
        #expect(SandboxHTTPRouter.route(method: "GET", uri: Self.metadataPath, issuer: issuer).status == 403)
        #expect(SandboxHTTPRouter.route(method: "GET", uri: Self.metadataPath, headers: [("Metadata-Flavor", "google-ish")], issuer: issuer).status == 403)
        // Without workload identity there is no account to hand out.
        #expect(SandboxHTTPRouter.route(method: "GET", uri: Self.metadataPath, headers: [("Metadata-Flavor", "Google")], issuer: issuer).status == 404)
        issuer.allowWorkloadIdentity(serviceAccounts: [key.email])
        let response = SandboxHTTPRouter.route(method: "GET", uri: Self.metadataPath, headers: [("Metadata-Flavor", "Google")], issuer: issuer)
        #expect(response.status == 200)
        let json = try response.json()
        #expect(json["token_type"] as? String == "Bearer")
        #expect((json["expires_in"] as? Int ?? 0) > 0)
        let token = try #require(json["access_token"] as? String)
        // A metadata token is for calling Google APIs, not a mailbox.
        #expect(!issuer.validate(token: token, email: "ops@acme.com"))
        #expect(issuer.tokenRequestCount(grantType: SandboxGrantType.metadataToken) == 2)
    }

    @Test func signJwtThenJWTBearerGivesATokenForTheSubject() throws {
        let (issuer, key) = try setUp()
        issuer.allowWorkloadIdentity(serviceAccounts: [key.email])
        let now = Int(issuer.currentDate.timeIntervalSince1970)
        let claims: [String: Any] = ["iss": key.email, "sub": "ops@acme.com", "scope": "https://mail.google.com/",
                                     "aud": issuer.tokenURL, "iat": now, "exp": now + 3600]
        // The email may arrive percent-encoded in the path.
        let encoded = key.email.replacingOccurrences(of: "@", with: "%40")
        let response = try signJwt(issuer, email: encoded, bearer: try metadataToken(issuer), payload: claims)
        #expect(response.status == 200, "\(response.text)")
        let json = try response.json()
        #expect(json["keyId"] as? String == key.keyID)
        let signed = try #require(json["signedJwt"] as? String)
        // Verified here with the key file's key, independently of the sandbox's verifier.
        let parts = signed.split(separator: ".")
        let publicKey = try _RSA.Signing.PrivateKey(pemRepresentation: key.privateKeyPEM).publicKey
        var text = parts[2].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        let signature = _RSA.Signing.RSASignature(rawRepresentation: try #require(Data(base64Encoded: text)))
        #expect(publicKey.isValidSignature(signature, for: Array("\(parts[0]).\(parts[1])".utf8), padding: .insecurePKCS1v1_5))
        #expect(try TestJWT.claims(signed)["sub"] as? String == "ops@acme.com")

        let outcome = issuer.answer(form: ["grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": signed], basicAuth: nil)
        let token = try #require(outcome.accessToken)
        #expect(issuer.validate(token: token, email: "ops@acme.com"))
        #expect(!issuer.validate(token: token, email: "sales@acme.com"))
        #expect(issuer.tokenRequestCount(grantType: SandboxGrantType.signJWT, client: key.email) == 1)
        #expect(issuer.assertionSubjects(serviceAccount: key.email) == ["ops@acme.com"])
    }

    @Test func signJwtRefusals() throws {
        let (issuer, key) = try setUp()
        let other = try issuer.makeServiceAccount(name: "other", domains: ["acme.com"])
        issuer.allowWorkloadIdentity(serviceAccounts: [key.email])
        let metadata = try metadataToken(issuer)
        let payload: [String: Any] = ["iss": key.email, "sub": "ops@acme.com"]
        #expect(try signJwt(issuer, email: key.email, bearer: nil, payload: payload).status == 401)
        #expect(try signJwt(issuer, email: key.email, bearer: "not-a-token", payload: payload).status == 401)
        // A token good for a mailbox is not a credential for IAM.
        try issuer.registerApplication(clientID: "app", credential: .secret("s"), mailboxes: ["ops@acme.com"])
        let mailToken = try #require(issuer.answer(form: ["grant_type": "client_credentials", "client_id": "app", "client_secret": "s",
                                                          "scope": "https://outlook.office365.com/.default"], basicAuth: nil).accessToken)
        #expect(try signJwt(issuer, email: key.email, bearer: mailToken, payload: payload).status == 401)
        // Only the accounts the workload may impersonate.
        let denied = try signJwt(issuer, email: other.email, bearer: metadata, payload: payload)
        #expect(denied.status == 403)
        #expect(denied.text.contains("PERMISSION_DENIED"))
        #expect(try signJwt(issuer, email: "nobody@x.iam.gserviceaccount.com", bearer: metadata, payload: payload).status == 403)
        let badBody = SandboxHTTPRouter.route(method: "POST", uri: signPath(key.email), headers: [("authorization", "Bearer \(metadata)")],
                                              body: #"{"payload": 3}"#, issuer: issuer)
        #expect(badBody.status == 400)
        #expect(SandboxHTTPRouter.route(method: "GET", uri: signPath(key.email), issuer: issuer).status == 405)
    }
}
