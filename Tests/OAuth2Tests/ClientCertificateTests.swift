import _CryptoExtras
import Crypto
import Foundation
import Testing
@testable import OAuth2

@Suite struct ClientCertificateTests {
    @Test func acceptsPKCS8AndPKCS1KeysAndComputesTheThumbprintOfTheDER() throws {
        let certificatePEM = GrantFixtures.pem(GrantFixtures.appCertificate)
        let pkcs8 = try ClientCertificate(certificatePEM: certificatePEM, privateKeyPEM: GrantFixtures.appKey.pkcs8PEMRepresentation)
        let pkcs1 = try ClientCertificate(certificatePEM: certificatePEM, privateKeyPEM: GrantFixtures.appKey.pemRepresentation)
        #expect(GrantFixtures.appKey.pemRepresentation.contains("BEGIN RSA PRIVATE KEY"))
        let der = GrantFixtures.der(GrantFixtures.appCertificate)
        #expect(pkcs8.certificateDER == der)
        let expected = Base64URL.encode(SHA256.hash(data: der))
        #expect(pkcs8.thumbprintSHA256 == expected)
        #expect(!expected.contains("=") && !expected.contains("+") && !expected.contains("/") && expected.count == 43)
        #expect(pkcs1.thumbprintSHA256 == expected)
        // Same key, different PEM text: a different value, as a rewritten file must be.
        #expect(pkcs8 != pkcs1)
        #expect(pkcs8 == (try ClientCertificate(certificatePEM: certificatePEM, privateKeyPEM: GrantFixtures.appKey.pkcs8PEMRepresentation)))
    }

    @Test func aChainAfterTheLeafAndAKeyInTheSameFileAreFine() throws {
        let leaf = GrantFixtures.pem(GrantFixtures.appCertificate)
        let combined = leaf + "\n" + GrantFixtures.pem(GrantFixtures.otherCertificate) + "\n" + GrantFixtures.appKey.pkcs8PEMRepresentation
        let certificate = try ClientCertificate(certificatePEM: combined, privateKeyPEM: combined)
        #expect(certificate.certificateDER == GrantFixtures.der(GrantFixtures.appCertificate))
    }

    @Test func aKeyThatIsNotTheCertificatesIsRefusedNamingThePrivateKey() throws {
        let keyPEM = GrantFixtures.otherKey.pkcs8PEMRepresentation
        let error = #expect(throws: OAuth2CredentialError.self) {
            try ClientCertificate(certificatePEM: GrantFixtures.pem(GrantFixtures.appCertificate), privateKeyPEM: keyPEM)
        }
        #expect(error?.part == .privateKey)
        #expect(error?.description == "private key: does not match the certificate's public key")
        Self.expectNoKeyMaterial(error, keyPEM)
    }

    @Test func badCertificatesNameTheCertificate() throws {
        let cases: [(String, String)] = [
            ("not a pem at all", "no -----BEGIN CERTIFICATE----- block"),
            (" \n", "is empty"),
            ("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "not valid PEM"),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "no -----BEGIN CERTIFICATE----- block"),
            ("-----BEGIN CERTIFICATE-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END CERTIFICATE-----\n", "not a valid X.509 certificate"),
            (GrantFixtures.pem(try GrantFixtures.ecCertificate()), "not RSA"),
        ]
        for (pem, words) in cases {
            let error = #expect(throws: OAuth2CredentialError.self) {
                try ClientCertificate(certificatePEM: pem, privateKeyPEM: GrantFixtures.appKey.pkcs8PEMRepresentation)
            }
            #expect(error?.part == .certificate)
            #expect(error?.description.hasPrefix("certificate: ") == true)
            #expect(error?.description.contains(words) == true, "\(String(describing: error)) for \(words)")
            Self.expectNoKeyMaterial(error, GrantFixtures.appKey.pkcs8PEMRepresentation)
        }
    }

    @Test func badKeysNameThePrivateKeyAndNeverQuoteIt() throws {
        let certificatePEM = GrantFixtures.pem(GrantFixtures.appCertificate)
        let goodKey = GrantFixtures.appKey.pkcs8PEMRepresentation
        // A damaged key: the DER is cut short, so only the key part is at fault.
        var lines = goodKey.split(separator: "\n").map(String.init)
        lines.removeSubrange(5..<(lines.count - 3))
        let truncated = lines.joined(separator: "\n")
        let smallKey = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024)).pkcs8PEMRepresentation
        let ecKey = P256.Signing.PrivateKey().pemRepresentation
        let cases: [(String, String)] = [
            ("", "is empty"),
            ("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n", "not valid PEM"),
            (certificatePEM, "no -----BEGIN PRIVATE KEY-----"),
            (truncated, "not a readable RSA private key"),
            (smallKey, "1024 bits"),
            (ecKey, "is not an RSA key"),
            (Self.ecLabelled(P256.Signing.PrivateKey()), "is not an RSA key"),
            (goodKey.replacingOccurrences(of: "PRIVATE KEY", with: "ENCRYPTED PRIVATE KEY"), "encrypted"),
        ]
        for (keyPEM, words) in cases {
            let error = #expect(throws: OAuth2CredentialError.self) {
                try ClientCertificate(certificatePEM: certificatePEM, privateKeyPEM: keyPEM)
            }
            #expect(error?.part == .privateKey)
            #expect(error?.description.hasPrefix("private key: ") == true)
            #expect(error?.description.contains(words) == true, "\(String(describing: error)) for \(words)")
            Self.expectNoKeyMaterial(error, keyPEM)
        }
    }

    @Test func descriptionShowsTheThumbprintOnly() {
        let certificate = GrantFixtures.clientCertificate
        let text = "\(certificate) \(String(reflecting: certificate)) \(ClientAuthentication.certificate(certificate))"
        #expect(text.contains(certificate.thumbprintSHA256))
        #expect(text.contains("<redacted>"))
        for line in GrantFixtures.bodyLines(GrantFixtures.appKey.pkcs8PEMRepresentation) {
            #expect(!text.contains(line))
        }
    }

    /// An EC key under the `EC PRIVATE KEY` label `openssl ecparam -genkey` writes.
    static func ecLabelled(_ key: P256.Signing.PrivateKey) -> String {
        let body = key.derRepresentation.base64EncodedString(options: .lineLength64Characters)
        return "-----BEGIN EC PRIVATE KEY-----\n\(body)\n-----END EC PRIVATE KEY-----\n"
    }

    static func expectNoKeyMaterial(_ error: OAuth2CredentialError?, _ pem: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let text = error.map { "\($0) \(String(reflecting: $0))" } ?? ""
        for line in GrantFixtures.bodyLines(pem) {
            #expect(!text.contains(line), sourceLocation: sourceLocation)
        }
    }
}
