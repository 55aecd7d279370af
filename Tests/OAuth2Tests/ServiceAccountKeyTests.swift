import Foundation
import Testing
@testable import OAuth2

@Suite struct ServiceAccountKeyTests {
    @Test func readsGooglesKeyFile() throws {
        let key = try ServiceAccountKey(json: GrantFixtures.serviceAccountJSON())
        #expect(key.clientEmail == "relay@acme-project.iam.gserviceaccount.com")
        #expect(key.tokenURI == "https://oauth2.example.com/token")
        #expect(key.privateKeyID == "kid-0123456789abcdef")
        #expect(key.privateKey.publicKey.derRepresentation == GrantFixtures.serviceAccountKey.publicKey.derRepresentation)
        #expect(key == (try ServiceAccountKey(json: GrantFixtures.serviceAccountJSON())))
        #expect(key != (try ServiceAccountKey(json: GrantFixtures.serviceAccountJSON(privateKeyID: "kid-2"))))
        #expect(key != (try ServiceAccountKey(json: GrantFixtures.serviceAccountJSON(privateKeyPEM: GrantFixtures.otherKey.pkcs8PEMRepresentation))))
        let noKid = try ServiceAccountKey(json: GrantFixtures.serviceAccountJSON(privateKeyID: nil))
        #expect(noKid.privateKeyID == nil)
    }

    @Test func missingTokenURIMeansGooglesEndpoint() throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(GrantFixtures.serviceAccountJSON())) as? [String: Any])
        object["token_uri"] = nil
        let key = try ServiceAccountKey(json: try JSONSerialization.data(withJSONObject: object))
        #expect(key.tokenURI == "https://oauth2.googleapis.com/token")
    }

    @Test func errorsNameTheFieldAndNeverQuoteTheKey() throws {
        let keyPEM = GrantFixtures.serviceAccountKey.pkcs8PEMRepresentation
        let base = try #require(try JSONSerialization.jsonObject(with: Data(GrantFixtures.serviceAccountJSON())) as? [String: Any])
        func variant(_ change: (inout [String: Any]) -> Void) -> Data {
            var object = base
            change(&object)
            return try! JSONSerialization.data(withJSONObject: object)
        }
        let cases: [(Data, String?, String)] = [
            (Data("{not json".utf8), nil, "not a JSON object"),
            (Data("[1]".utf8), nil, "not a JSON object"),
            (variant { $0["client_email"] = nil }, "client_email", "missing"),
            (variant { $0["client_email"] = 42 }, "client_email", "not a string"),
            (variant { $0["client_email"] = "nobody" }, "client_email", "not an email address"),
            (variant { $0["private_key"] = nil }, "private_key", "missing"),
            (variant { $0["private_key"] = "   " }, "private_key", "empty"),
            (variant { $0["private_key"] = keyPEM.replacingOccurrences(of: "PRIVATE KEY", with: "PUBLIC KEY") }, "private_key", "no -----BEGIN PRIVATE KEY-----"),
            (variant { $0["private_key"] = String(keyPEM.dropLast(200)) + "\n-----END PRIVATE KEY-----\n" }, "private_key", "private_key: "),
            (variant { $0["token_uri"] = "oauth2.googleapis.com/token" }, "token_uri", "not an absolute http(s) URL"),
            (variant { $0["type"] = "authorized_user" }, "type", "\"authorized_user\""),
        ]
        for (json, field, words) in cases {
            let error = #expect(throws: OAuth2CredentialError.self) { try ServiceAccountKey(json: json) }
            #expect(error?.part == .serviceAccountKey)
            #expect(error?.field == field, "\(String(describing: error))")
            #expect(error?.description.contains(words) == true, "\(String(describing: error))")
            if let field { #expect(error?.description.hasPrefix("service account key: \(field): ") == true) }
            ClientCertificateTests.expectNoKeyMaterial(error, keyPEM)
        }
    }

    @Test func descriptionRedactsTheKey() {
        let key = GrantFixtures.serviceAccount
        let credentials = OAuth2Credentials.googleServiceAccount(key: key, subject: "ops@acme.com")
        let text = "\(key) \(String(reflecting: key)) \(credentials) \(String(reflecting: credentials)) \(credentials.grant)"
        #expect(text.contains("relay@acme-project.iam.gserviceaccount.com"))
        #expect(text.contains("ops@acme.com"))
        for line in GrantFixtures.bodyLines(GrantFixtures.serviceAccountKey.pkcs8PEMRepresentation) {
            #expect(!text.contains(line))
        }
    }
}
