import Foundation
@testable import Sandbox
import Testing
import _CryptoExtras

/// Google domain-wide delegation: the jwt-bearer grant with an assertion signed by the
/// service account key the sandbox hands out.
@Suite struct ServiceAccountGrantTests {
    static let mailboxes = ["ops@acme.com", "sales@acme.com", "billing@acme.com"]

    private struct Account {
        let issuer: SandboxTokenIssuer
        let clock: TestClock
        let key: SandboxServiceAccountKey
        let file: [String: Any]
        let privateKey: _RSA.Signing.PrivateKey

        init(domains: [String] = ["acme.com"], mailboxes: [String] = []) throws {
            clock = TestClock()
            issuer = SandboxTokenIssuer(now: clock.now)
            issuer.setBaseURL("http://127.0.0.1:8443")
            key = try issuer.makeServiceAccount(name: "relay", projectID: "acme-mail", domains: domains, mailboxes: mailboxes)
            file = try #require(try JSONSerialization.jsonObject(with: Data(key.json.utf8)) as? [String: Any])
            privateKey = try _RSA.Signing.PrivateKey(pemRepresentation: try #require(file["private_key"] as? String))
        }

        func assertion(sub: String? = "ops@acme.com", header: [String: Any] = [:], claims: [String: Any] = [:],
                       key: _RSA.Signing.PrivateKey? = nil, padding: _RSA.Signing.Padding = .insecurePKCS1v1_5) throws -> String {
            let now = Int(issuer.currentDate.timeIntervalSince1970)
            var base: [String: Any] = [
                "iss": file["client_email"] as Any, "scope": "https://mail.google.com/", "aud": file["token_uri"] as Any,
                "iat": now, "exp": now + 3600,
            ]
            if let sub { base["sub"] = sub }
            return try TestJWT.sign(header: TestJWT.merged(["alg": "RS256", "typ": "JWT", "kid": file["private_key_id"] as Any], header),
                                    claims: TestJWT.merged(base, claims), key: key ?? privateKey, padding: padding)
        }

        func exchange(_ assertion: String) -> SandboxTokenOutcome {
            issuer.answer(form: ["grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion], basicAuth: nil)
        }
    }

    @Test func theKeyFileHasGooglesShape() throws {
        let account = try Account()
        #expect(account.file["type"] as? String == "service_account")
        #expect(account.file["project_id"] as? String == "acme-mail")
        #expect(account.file["client_email"] as? String == "relay@acme-mail.iam.gserviceaccount.com")
        #expect(account.file["token_uri"] as? String == "http://127.0.0.1:8443/token")
        #expect((account.file["private_key_id"] as? String)?.count == 40)
        let clientID = try #require(account.file["client_id"] as? String)
        #expect(clientID.count == 21 && clientID.allSatisfy(\.isNumber))
        #expect((account.file["private_key"] as? String)?.hasPrefix("-----BEGIN PRIVATE KEY-----") == true)
        #expect(!account.key.description.contains("PRIVATE"))
    }

    @Test func threeMailboxesAreThreeRequestsEachTokenForItsSubjectOnly() throws {
        let account = try Account()
        var tokens: [String] = []
        for mailbox in Self.mailboxes {
            tokens.append(try #require(account.exchange(try account.assertion(sub: mailbox)).accessToken))
        }
        for (index, token) in tokens.enumerated() {
            for (other, mailbox) in Self.mailboxes.enumerated() {
                #expect(account.issuer.validate(token: token, email: mailbox) == (index == other))
            }
        }
        #expect(account.issuer.tokenRequestCount(grantType: SandboxGrantType.jwtBearer, client: account.key.email) == 3)
        #expect(account.issuer.assertionSubjects(serviceAccount: account.key.email) == Self.mailboxes)
    }

    @Test func delegationForListedMailboxesOnly() throws {
        let account = try Account(domains: [], mailboxes: ["ops@acme.com"])
        #expect(account.exchange(try account.assertion(sub: "ops@acme.com")).status == 200)
        #expect(account.exchange(try account.assertion(sub: "sales@acme.com")).errorCode == "unauthorized_client")
    }

    @Test(arguments: [
        ("signed with another key", "otherKey", 400, "invalid_grant"),
        ("PS256 instead of RS256", "pss", 400, "invalid_grant"),
        ("kid of another key", "otherKid", 400, "invalid_grant"),
        ("unknown service account", "unknownIssuer", 400, "invalid_grant"),
        ("sub outside the delegated domain", "otherDomain", 401, "unauthorized_client"),
        ("no scope", "noScope", 400, "invalid_scope"),
        ("scope without mail", "otherScope", 401, "unauthorized_client"),
        ("aud another URL", "wrongAudience", 400, "invalid_grant"),
        ("iat in the future", "futureIssuedAt", 400, "invalid_grant"),
        ("expired", "expired", 400, "invalid_grant"),
        ("longer than an hour", "tooLong", 400, "invalid_grant"),
        ("no iat", "noIssuedAt", 400, "invalid_grant"),
        ("not a JWT", "garbage", 400, "invalid_grant"),
    ])
    func assertionRefusals(_ name: String, _ variant: String, _ status: Int, _ error: String) throws {
        let account = try Account()
        let now = Int(account.issuer.currentDate.timeIntervalSince1970)
        let assertion: String
        switch variant {
        case "otherKey": assertion = try account.assertion(key: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case "pss": assertion = try account.assertion(header: ["alg": "PS256"], padding: .PSS)
        case "otherKid": assertion = try account.assertion(header: ["kid": "0123"])
        case "unknownIssuer": assertion = try account.assertion(claims: ["iss": "other@acme-mail.iam.gserviceaccount.com"])
        case "otherDomain": assertion = try account.assertion(sub: "ceo@acme.org")
        case "noScope": assertion = try account.assertion(claims: ["scope": NSNull()])
        case "otherScope": assertion = try account.assertion(claims: ["scope": "https://www.googleapis.com/auth/gmail.readonly"])
        case "wrongAudience": assertion = try account.assertion(claims: ["aud": "https://oauth2.googleapis.com/token"])
        case "futureIssuedAt": assertion = try account.assertion(claims: ["iat": now + 300, "exp": now + 3600])
        case "expired": assertion = try account.assertion(claims: ["iat": now - 3700, "exp": now - 100])
        case "tooLong": assertion = try account.assertion(claims: ["exp": now + 3601])
        case "noIssuedAt": assertion = try account.assertion(claims: ["iat": NSNull()])
        default: assertion = "garbage"
        }
        let outcome = account.exchange(assertion)
        #expect(outcome.status == status, "\(name): \(outcome)")
        #expect(outcome.errorCode == error, "\(name): \(outcome)")
        #expect(account.issuer.issuedTokenCount() == 0)
    }

    @Test func scopeMayListMoreThanMail() throws {
        let account = try Account()
        let assertion = try account.assertion(claims: ["scope": "https://www.googleapis.com/auth/userinfo.email https://mail.google.com/"])
        #expect(account.exchange(assertion).status == 200)
    }

    @Test func theAssertionExpiresByTheInjectedClock() throws {
        let account = try Account()
        let assertion = try account.assertion()
        account.clock.advance(.seconds(3600))
        #expect(account.exchange(assertion).errorCode == "invalid_grant")
    }
}
