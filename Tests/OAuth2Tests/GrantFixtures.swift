import _CryptoExtras
import Crypto
import Foundation
import X509
@testable import OAuth2

/// Keys, certificates and key files for the app-only grant tests, generated once per test run
/// (RSA key generation is the slow part).
enum GrantFixtures {
    static let appKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let otherKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let serviceAccountKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)

    static let appCertificate = try! selfSigned(appKey, commonName: "xoauth2-proxy test app")
    static let otherCertificate = try! selfSigned(otherKey, commonName: "xoauth2-proxy other app")

    static func selfSigned(_ key: _RSA.Signing.PrivateKey, commonName: String) throws -> Certificate {
        let name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        return try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: Certificate.Extensions {},
            issuerPrivateKey: Certificate.PrivateKey(key))
    }

    static func ecCertificate() throws -> Certificate {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("ec") }
        return try Certificate(version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
                               notValidBefore: Date(), notValidAfter: Date().addingTimeInterval(3600), issuer: name, subject: name,
                               signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions {},
                               issuerPrivateKey: Certificate.PrivateKey(key))
    }

    static func pem(_ certificate: Certificate) -> String {
        try! certificate.serializeAsPEM().pemString
    }

    /// Decoded here from the PEM text, independently of the code under test.
    static func der(_ certificate: Certificate) -> [UInt8] {
        let body = pem(certificate).split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        return Array(Data(base64Encoded: body)!)
    }

    static let clientCertificate = try! ClientCertificate(certificatePEM: pem(appCertificate), privateKeyPEM: appKey.pkcs8PEMRepresentation)

    static func serviceAccountJSON(clientEmail: String = "relay@acme-project.iam.gserviceaccount.com",
                                   privateKeyPEM: String = serviceAccountKey.pkcs8PEMRepresentation,
                                   tokenURI: String = "https://oauth2.example.com/token",
                                   privateKeyID: String? = "kid-0123456789abcdef") -> [UInt8] {
        var object: [String: Any] = [
            "type": "service_account",
            "project_id": "acme-project",
            "client_email": clientEmail,
            "client_id": "1234567890",
            "private_key": privateKeyPEM,
            "token_uri": tokenURI,
        ]
        if let privateKeyID { object["private_key_id"] = privateKeyID }
        return Array(try! JSONSerialization.data(withJSONObject: object))
    }

    static let serviceAccount = try! ServiceAccountKey(json: serviceAccountJSON())

    /// The base64 body lines of a PEM: none of them may appear in an error or a description.
    static func bodyLines(_ pem: String) -> [String] {
        pem.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("-----") && $0.count >= 16 }
    }
}

/// A compact JWT split into its decoded parts, for asserting on what we sent.
struct DecodedJWT {
    var header: [String: Any]
    var claims: [String: Any]
    var signingInput: String
    var signature: [UInt8]

    init?(_ compact: String) {
        let parts = compact.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerBytes = Base64URL.decode(parts[0]), let claimsBytes = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]),
              let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
              let claims = try? JSONSerialization.jsonObject(with: Data(claimsBytes)) as? [String: Any] else { return nil }
        self.header = header
        self.claims = claims
        self.signingInput = "\(parts[0]).\(parts[1])"
        self.signature = signature
    }

    func isSigned(by key: _RSA.Signing.PublicKey, padding: _RSA.Signing.Padding) -> Bool {
        key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature),
                             for: SHA256.hash(data: Array(signingInput.utf8)), padding: padding)
    }

    func int(_ claim: String) -> Int? { (claims[claim] as? NSNumber)?.intValue }
    func string(_ claim: String) -> String? { claims[claim] as? String }
}
