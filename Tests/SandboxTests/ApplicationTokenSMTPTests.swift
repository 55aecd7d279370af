import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import Sandbox
import SMTPCore
import Testing
import _CryptoExtras

/// Over the wire: a token obtained from the HTTP endpoint with a certificate assertion (its
/// `aud` the URL the endpoint is served at) is accepted by the SMTP side for the application's
/// mailboxes and refused for any other, as Exchange Online does with app-only tokens.
@Suite struct ApplicationTokenSMTPTests {
    static let clientID = "smtp-app"

    private func post(_ url: String, _ body: String) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body.utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = try #require(response as? HTTPURLResponse).statusCode
        return (status, try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]))
    }

    private func assertion(_ sandbox: SandboxProvider, _ registration: SandboxApplicationRegistration) throws -> String {
        let key = try _RSA.Signing.PrivateKey(pemRepresentation: try #require(registration.privateKeyPEM))
        let now = Int(sandbox.issuer.currentDate.timeIntervalSince1970)
        return try TestJWT.sign(
            header: ["alg": "PS256", "typ": "JWT", "x5t#S256": try TestJWT.thumbprint(certificatePEM: try #require(registration.certificatePEM))],
            claims: ["aud": sandbox.tokenURL, "iss": Self.clientID, "sub": Self.clientID, "jti": UUID().uuidString,
                     "iat": now, "nbf": now, "exp": now + 600],
            key: key, padding: .PSS)
    }

    @Test func anApplicationTokenIsAcceptedForItsMailboxesAndRefusedForOthers() async throws {
        let harness = try await SandboxHarness.start()
        do {
            let sandbox = harness.sandbox
            let mailboxes = (1...10).map { "box\($0)@contoso.com" }
            let registration = try sandbox.issuer.registerApplication(clientID: Self.clientID, credential: .generatedCertificate, mailboxes: mailboxes)
            let body = formBody([("grant_type", "client_credentials"), ("client_id", Self.clientID),
                                 ("scope", "https://outlook.office365.com/.default"),
                                 ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                                 ("client_assertion", try assertion(sandbox, registration))])
            let (status, json) = try await post(sandbox.tokenURL, body)
            #expect(status == 200, "\(json)")
            let token = try #require(json["access_token"] as? String)
            for mailbox in mailboxes {
                #expect(try await harness.authenticate(email: mailbox, token: token).code == 235, "\(mailbox)")
            }
            #expect(try await harness.authenticate(email: "other@contoso.com", token: token).code == 535)
            #expect(try await harness.authenticate(email: SandboxHarness.email, token: token).code == 535)
            #expect(sandbox.issuer.tokenRequestCount(grantType: SandboxGrantType.clientCredentials, client: Self.clientID) == 1)

            // The same assertion again is a replay, over HTTP too, with Entra ID's error shape.
            let (replayStatus, replay) = try await post(sandbox.tokenURL, body)
            #expect(replayStatus == 401)
            #expect(replay["error"] as? String == "invalid_client")
            #expect(replay["error_codes"] as? [Int] == [7000274])
            #expect((replay["error_description"] as? String)?.hasPrefix("AADSTS7000274: ") == true)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    @Test func theEndpointServesEveryPathAndURLsAgree() async throws {
        let harness = try await SandboxHarness.start()
        let sandbox = harness.sandbox
        #expect(sandbox.issuer.tokenURL == sandbox.tokenURL)
        #expect(sandbox.baseURL == "http://127.0.0.1:\(sandbox.tokenEndpoint.port)")
        #expect(sandbox.metadataHost == "127.0.0.1:\(sandbox.tokenEndpoint.port)")
        #expect(sandbox.deviceCodeURL == sandbox.baseURL + "/devicecode")
        #expect(sandbox.authorizeURL == sandbox.baseURL + "/authorize")
        let key = try sandbox.issuer.makeServiceAccount(domains: ["acme.com"])
        let file = try #require(try JSONSerialization.jsonObject(with: Data(key.json.utf8)) as? [String: Any])
        #expect(file["token_uri"] as? String == sandbox.tokenURL)
        sandbox.issuer.registerInteractiveClient(clientID: "pub")
        let (status, json) = try await post(sandbox.deviceCodeURL, "client_id=pub&scope=offline_access")
        #expect(status == 200)
        #expect(json["verification_uri"] as? String == sandbox.baseURL + "/device")
        await harness.stop()
    }
}
