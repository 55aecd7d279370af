import Foundation
@testable import Sandbox
import Testing
import _CryptoExtras

/// grant_type=client_credentials as Entra ID checks it: secrets, certificate assertions (PS256,
/// x5t#S256, aud, iss/sub, exp/nbf/iat, jti replay) and federated assertions; tokens good for
/// the application's mailboxes only.
@Suite struct ClientCredentialsGrantTests {
    static let clientID = "11111111-2222-3333-4444-555555555555"
    static let mailboxes = (1...10).map { "user\($0)@contoso.com" }

    private func baseForm(_ clientID: String = Self.clientID) -> [String: String] {
        ["grant_type": "client_credentials", "client_id": clientID, "scope": SandboxTokenIssuer.outlookDefaultScope]
    }

    private func assertionForm(_ assertion: String, clientID: String = Self.clientID) -> [String: String] {
        var form = baseForm(clientID)
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = assertion
        return form
    }

    /// An issuer with a certificate application, and a builder of its assertions.
    private struct CertificateApp {
        let issuer: SandboxTokenIssuer
        let clock: TestClock
        let registration: SandboxApplicationRegistration
        let key: _RSA.Signing.PrivateKey
        let thumbprint: String

        init(mailboxes: [String] = ClientCredentialsGrantTests.mailboxes, domains: [String] = []) throws {
            clock = TestClock()
            issuer = SandboxTokenIssuer(now: clock.now)
            registration = try issuer.registerApplication(clientID: ClientCredentialsGrantTests.clientID, credential: .generatedCertificate,
                                                          mailboxes: mailboxes, domains: domains)
            key = try _RSA.Signing.PrivateKey(pemRepresentation: try #require(registration.privateKeyPEM))
            thumbprint = try TestJWT.thumbprint(certificatePEM: try #require(registration.certificatePEM))
        }

        func assertion(header: [String: Any] = [:], claims: [String: Any] = [:], key: _RSA.Signing.PrivateKey? = nil,
                       padding: _RSA.Signing.Padding = .PSS) throws -> String {
            let now = Int(issuer.currentDate.timeIntervalSince1970)
            let baseHeader: [String: Any] = ["alg": "PS256", "typ": "JWT", "x5t#S256": thumbprint]
            let baseClaims: [String: Any] = [
                "aud": issuer.tokenURL, "iss": ClientCredentialsGrantTests.clientID, "sub": ClientCredentialsGrantTests.clientID,
                "jti": UUID().uuidString, "nbf": now, "iat": now, "exp": now + 300,
            ]
            return try TestJWT.sign(header: TestJWT.merged(baseHeader, header), claims: TestJWT.merged(baseClaims, claims),
                                    key: key ?? self.key, padding: padding)
        }
    }

    @Test func aSecretApplicationGetsOneTokenGoodForAllItsMailboxesAndNoOthers() throws {
        let issuer = SandboxTokenIssuer()
        try issuer.registerApplication(clientID: Self.clientID, credential: .secret("app-secret"), mailboxes: Self.mailboxes,
                                       domains: ["fabrikam.com"])
        var form = baseForm()
        form["client_secret"] = "app-secret"
        let token = try #require(issuer.answer(form: form, basicAuth: nil).accessToken)
        for mailbox in Self.mailboxes { #expect(issuer.validate(token: token, email: mailbox.uppercased())) }
        #expect(issuer.validate(token: token, email: "anyone@fabrikam.com"))
        #expect(!issuer.validate(token: token, email: "user11@contoso.com"))
        #expect(!issuer.validate(token: token, email: "user1@contoso.com.evil"))
        #expect(!issuer.validate(token: token, email: "@fabrikam.com"))
        #expect(issuer.tokenRequestCount(grantType: SandboxGrantType.clientCredentials, client: Self.clientID) == 1)
        #expect(issuer.tokenRequests().map(\.credential) == ["secret"])
        // HTTP Basic works as well.
        #expect(issuer.answer(form: baseForm(), basicAuth: (Self.clientID, "app-secret")).status == 200)
    }

    @Test func secretRefusalsAreMicrosoftShaped() throws {
        let issuer = SandboxTokenIssuer()
        try issuer.registerApplication(clientID: Self.clientID, credential: .secret("app-secret"), mailboxes: Self.mailboxes)
        var form = baseForm()
        form["client_secret"] = "wrong"
        let wrong = issuer.answer(form: form, basicAuth: nil)
        #expect(wrong.status == 401)
        #expect(wrong.errorCodes == [7000215])
        let body = String(decoding: wrong.jsonBody(), as: UTF8.self)
        #expect(body.contains(#""error":"invalid_client""#))
        #expect(body.contains(#""error_codes":[7000215]"#))
        #expect(body.contains("AADSTS7000215: "))
        #expect(issuer.answer(form: baseForm(), basicAuth: nil).errorCodes == [7000216])
        #expect(issuer.answer(form: baseForm("unknown-app"), basicAuth: nil).errorCodes == [700016])
        #expect(issuer.issuedTokenCount() == 0)
        #expect(issuer.tokenRequestCount(grantType: SandboxGrantType.clientCredentials) == 3)
    }

    @Test func scopeIsRequiredAndMustBeADefaultScope() throws {
        let issuer = SandboxTokenIssuer()
        try issuer.registerApplication(clientID: Self.clientID, credential: .secret("s"), mailboxes: Self.mailboxes)
        var form = baseForm()
        form["client_secret"] = "s"
        form["scope"] = nil
        #expect(issuer.answer(form: form, basicAuth: nil).errorCodes == [900144])
        form["scope"] = "https://outlook.office.com/SMTP.Send"
        #expect(issuer.answer(form: form, basicAuth: nil).errorCode == "invalid_scope")
        form["scope"] = "https://custom.example/.default"
        #expect(issuer.answer(form: form, basicAuth: nil).status == 200)
        // A required scope is matched exactly.
        try issuer.registerApplication(clientID: Self.clientID, credential: .secret("s"), mailboxes: Self.mailboxes,
                                       requiredScope: SandboxTokenIssuer.outlookDefaultScope)
        #expect(issuer.answer(form: form, basicAuth: nil).errorCodes == [70011])
        form["scope"] = SandboxTokenIssuer.outlookDefaultScope
        #expect(issuer.answer(form: form, basicAuth: nil).status == 200)
    }

    @Test func aCertificateAssertionIsAcceptedAndItsTokenIsForTheAppsMailboxes() throws {
        let app = try CertificateApp(mailboxes: ["a@contoso.com"], domains: ["sales.contoso.com"])
        #expect(app.registration.thumbprint == app.thumbprint)
        let outcome = app.issuer.answer(form: assertionForm(try app.assertion()), basicAuth: nil)
        let token = try #require(outcome.accessToken, "\(outcome)")
        #expect(app.issuer.validate(token: token, email: "a@contoso.com"))
        #expect(app.issuer.validate(token: token, email: "bob@sales.contoso.com"))
        #expect(!app.issuer.validate(token: token, email: "b@contoso.com"))
        #expect(app.issuer.tokenRequests(client: Self.clientID).map(\.credential) == ["certificate"])
        // An assertion may carry aud as an array, and the served URL counts as the token URL.
        let served = "http://127.0.0.1:4444/token"
        let arrayAudience = try app.assertion(claims: ["aud": [served]])
        #expect(app.issuer.answer(form: assertionForm(arrayAudience), basicAuth: nil, servedTokenURL: served).status == 200)
    }

    /// Each rule, broken alone, is refused with invalid_client and its AADSTS code; nothing is issued.
    @Test(arguments: [
        ("signed with another key", "otherKey", 700027),
        ("RS256 (PKCS#1) signature", "rs256", 5002738),
        ("PS256 header over a PKCS#1 signature", "pkcs1Signature", 700027),
        ("wrong x5t#S256", "wrongThumbprint", 700027),
        ("no x5t#S256", "noThumbprint", 700027),
        ("aud another URL", "wrongAudience", 700023),
        ("no aud", "noAudience", 700023),
        ("iss not the client", "wrongIssuer", 700021),
        ("sub not the client", "wrongSubject", 700021),
        ("expired", "expired", 700024),
        ("no exp", "noExpiry", 700024),
        ("exp 20 minutes ahead", "tooLong", 700024),
        ("nbf in the future", "futureNotBefore", 700024),
        ("iat in the future", "futureIssuedAt", 700024),
        ("no jti", "noID", 50027),
        ("not a JWT", "garbage", 50027),
    ])
    func certificateAssertionRefusals(_ name: String, _ variant: String, _ code: Int) throws {
        let app = try CertificateApp()
        let now = Int(app.issuer.currentDate.timeIntervalSince1970)
        let assertion: String
        switch variant {
        case "otherKey": assertion = try app.assertion(key: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case "rs256": assertion = try app.assertion(header: ["alg": "RS256"], padding: .insecurePKCS1v1_5)
        case "pkcs1Signature": assertion = try app.assertion(padding: .insecurePKCS1v1_5)
        case "wrongThumbprint": assertion = try app.assertion(header: ["x5t#S256": TestJWT.base64URL(Data(repeating: 7, count: 32))])
        case "noThumbprint": assertion = try app.assertion(header: ["x5t#S256": NSNull()])
        case "wrongAudience": assertion = try app.assertion(claims: ["aud": "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"])
        case "noAudience": assertion = try app.assertion(claims: ["aud": NSNull()])
        case "wrongIssuer": assertion = try app.assertion(claims: ["iss": "someone-else"])
        case "wrongSubject": assertion = try app.assertion(claims: ["sub": "someone-else"])
        case "expired": assertion = try app.assertion(claims: ["exp": now - 1])
        case "noExpiry": assertion = try app.assertion(claims: ["exp": NSNull()])
        case "tooLong": assertion = try app.assertion(claims: ["exp": now + 1200])
        case "futureNotBefore": assertion = try app.assertion(claims: ["nbf": now + 600])
        case "futureIssuedAt": assertion = try app.assertion(claims: ["iat": now + 600])
        case "noID": assertion = try app.assertion(claims: ["jti": NSNull()])
        default: assertion = "not.a.jwt"
        }
        let outcome = app.issuer.answer(form: assertionForm(assertion), basicAuth: nil)
        #expect(outcome.status == 401, "\(name)")
        #expect(outcome.errorCode == "invalid_client", "\(name)")
        #expect(outcome.errorCodes == [code], "\(name): \(outcome)")
        #expect(app.issuer.issuedTokenCount() == 0)
    }

    @Test func aReplayedAssertionIsRefusedAndAFreshOneIsNot() throws {
        let app = try CertificateApp()
        let assertion = try app.assertion()
        #expect(app.issuer.answer(form: assertionForm(assertion), basicAuth: nil).status == 200)
        let replay = app.issuer.answer(form: assertionForm(assertion), basicAuth: nil)
        #expect(replay.status == 401)
        #expect(replay.errorCodes == [7000274])
        #expect(app.issuer.answer(form: assertionForm(try app.assertion()), basicAuth: nil).status == 200)
    }

    @Test func smallClockSkewIsTolerated() throws {
        let app = try CertificateApp()
        let now = Int(app.issuer.currentDate.timeIntervalSince1970)
        // A client clock 30 s ahead: nbf/iat slightly in the future, exp 10 minutes after its now.
        let ahead = try app.assertion(claims: ["nbf": now + 30, "iat": now + 30, "exp": now + 630])
        #expect(app.issuer.answer(form: assertionForm(ahead), basicAuth: nil).status == 200)
    }

    @Test func anAssertionNeedsTheAssertionType() throws {
        let app = try CertificateApp()
        var form = assertionForm(try app.assertion())
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
        #expect(app.issuer.answer(form: form, basicAuth: nil).errorCode == "invalid_request")
    }

    @Test func aCertificateMadeElsewhereCanBeRegistered() throws {
        // The PEM of an application from another issuer, registered by its certificate only.
        let other = try CertificateApp()
        let clock = TestClock()
        let issuer = SandboxTokenIssuer(now: clock.now)
        let registration = try issuer.registerApplication(clientID: Self.clientID,
                                                          credential: .certificate(pem: try #require(other.registration.certificatePEM)),
                                                          mailboxes: ["x@contoso.com"])
        #expect(registration.privateKeyPEM == nil)
        #expect(registration.thumbprint == other.thumbprint)
        let now = Int(issuer.currentDate.timeIntervalSince1970)
        let assertion = try TestJWT.sign(
            header: ["alg": "PS256", "x5t#S256": other.thumbprint],
            claims: ["aud": issuer.tokenURL, "iss": Self.clientID, "sub": Self.clientID, "jti": "j1", "iat": now, "nbf": now, "exp": now + 60],
            key: other.key, padding: .PSS)
        #expect(issuer.answer(form: assertionForm(assertion), basicAuth: nil).status == 200)
        #expect(!registration.description.contains("PRIVATE"))
    }

    // MARK: - Federated (AKS workload identity)

    private static let subject = "system:serviceaccount:mail:xoauth2-proxy"

    private func federatedIssuer() throws -> (SandboxTokenIssuer, TestClock) {
        let clock = TestClock()
        let issuer = SandboxTokenIssuer(now: clock.now)
        try issuer.registerApplication(clientID: Self.clientID, credential: .federated(subject: Self.subject), mailboxes: Self.mailboxes)
        return (issuer, clock)
    }

    @Test func aFederatedTokenIsAcceptedAgainForItsWholeLifetime() throws {
        let (issuer, clock) = try federatedIssuer()
        let token = try issuer.issueFederatedToken(subject: Self.subject)
        let claims = try TestJWT.claims(token)
        #expect(claims["iss"] as? String == issuer.federatedIssuerURL)
        #expect(claims["sub"] as? String == Self.subject)
        #expect((claims["aud"] as? [String]) == ["api://AzureADTokenExchange"])
        let first = try #require(issuer.answer(form: assertionForm(token), basicAuth: nil).accessToken)
        #expect(issuer.validate(token: first, email: Self.mailboxes[9]))
        #expect(!issuer.validate(token: first, email: "other@contoso.com"))
        // The kubelet's file is reused until it rotates: no replay rule for federated tokens.
        clock.advance(.seconds(3599))
        #expect(issuer.answer(form: assertionForm(token), basicAuth: nil).status == 200)
        #expect(issuer.tokenRequests().map(\.credential) == ["federated", "federated"])
        clock.advance(.seconds(1))
        #expect(issuer.answer(form: assertionForm(token), basicAuth: nil).errorCodes == [700024])
    }

    @Test func federatedRefusals() throws {
        let (issuer, _) = try federatedIssuer()
        #expect(issuer.answer(form: assertionForm(try issuer.issueFederatedToken(subject: "system:serviceaccount:other:sa")), basicAuth: nil)
            .errorCodes == [700213])
        #expect(issuer.answer(form: assertionForm(try issuer.issueFederatedToken(subject: Self.subject, audience: "api://other")), basicAuth: nil)
            .errorCodes == [700212])
        // The same claims signed by a key that is not the federated issuer's.
        let forged = try TestJWT.sign(header: ["alg": "RS256", "kid": "x"], claims: try TestJWT.claims(try issuer.issueFederatedToken(subject: Self.subject)),
                                      key: try _RSA.Signing.PrivateKey(keySize: .bits2048), padding: .insecurePKCS1v1_5)
        #expect(issuer.answer(form: assertionForm(forged), basicAuth: nil).errorCodes == [700027])
        // A federated token is no credential for an application that does not trust that subject.
        try issuer.registerApplication(clientID: "secret-app", credential: .secret("s"), mailboxes: ["a@contoso.com"])
        #expect(issuer.answer(form: assertionForm(try issuer.issueFederatedToken(subject: Self.subject), clientID: "secret-app"), basicAuth: nil)
            .status == 401)
        #expect(issuer.issuedTokenCount() == 0)
    }

    @Test func federatedIssuerURLMovesWithTheEndpoint() throws {
        let (issuer, _) = try federatedIssuer()
        let before = try issuer.issueFederatedToken(subject: Self.subject)
        issuer.setBaseURL("http://127.0.0.1:5555")
        #expect(issuer.federatedIssuerURL == "http://127.0.0.1:5555/federated")
        #expect(issuer.answer(form: assertionForm(before), basicAuth: nil).errorCodes == [700211])
        #expect(issuer.answer(form: assertionForm(try issuer.issueFederatedToken(subject: Self.subject)), basicAuth: nil).status == 200)
    }

    @Test func legacyClientCredentialsStillNeedNoScope() throws {
        let issuer = SandboxTokenIssuer()
        issuer.registerClientCredentials(email: "bench@example.com", clientID: "bench", clientSecret: "b")
        let token = try #require(issuer.answer(form: ["grant_type": "client_credentials", "client_id": "bench", "client_secret": "b"], basicAuth: nil).accessToken)
        #expect(issuer.validate(token: token, email: "bench@example.com"))
        #expect(!issuer.validate(token: token, email: "other@example.com"))
    }
}
