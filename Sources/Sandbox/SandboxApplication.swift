import Crypto
import Foundation
import _CryptoExtras
import SwiftASN1
import X509

/// How a registered application proves who it is at `grant_type=client_credentials`, as an
/// Entra ID app registration allows: a secret, a certificate (a client assertion signed with its
/// key), or a federated identity (a client assertion issued by a trusted token issuer, e.g. an
/// AKS cluster's service account token).
public enum SandboxApplicationCredential: Sendable {
    case secret(String)
    /// The sandbox makes an RSA key and a self-signed certificate; the registration hands both back.
    case generatedCertificate
    /// A certificate made elsewhere (PEM); assertions must verify with its RSA public key.
    case certificate(pem: String)
    /// Assertions issued by the sandbox's own federated token issuer for this subject,
    /// e.g. `system:serviceaccount:mail:xoauth2-proxy` (see `SandboxTokenIssuer.issueFederatedToken`).
    case federated(subject: String)
}

/// What `registerApplication` hands back: the client id, and for a generated certificate the
/// files a deployment mounts (`certificate_file`, `private_key_file`).
public struct SandboxApplicationRegistration: Sendable, CustomStringConvertible {
    public let clientID: String
    public let certificatePEM: String?
    /// PKCS#8 PEM. Secret: never logged (`description` leaves it out).
    public let privateKeyPEM: String?
    /// base64url(SHA-256(certificate DER)): the `x5t#S256` an assertion must carry.
    public let thumbprint: String?

    public var description: String {
        "SandboxApplicationRegistration(clientID: \(clientID), certificate: \(thumbprint ?? "none"), privateKey: \(privateKeyPEM == nil ? "none" : "<redacted>"))"
    }
}

/// One registered application, as the issuer keeps it.
struct SandboxApplication {
    struct RegisteredCertificate {
        var thumbprint: String
        var publicKey: _RSA.Signing.PublicKey
    }

    var secret: String?
    var certificates: [RegisteredCertificate] = []
    var federatedSubjects: Set<String> = []
    var scope: SandboxMailboxScope
    /// Nil: `scope` is not checked (applications registered before scopes mattered, e.g.
    /// `registerClientCredentials`). Otherwise the request's scope must be exactly this, or for
    /// "" any `RESOURCE/.default`, which is what Entra ID demands of client_credentials.
    var requiredScope: String?
}

/// RSA certificates for applications, made with swift-certificates (no key material in the repo).
enum SandboxApplicationCertificate {
    struct Made {
        var certificatePEM: String
        var privateKeyPEM: String
        var registered: SandboxApplication.RegisteredCertificate
    }

    static func generate(commonName: String) throws -> Made {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(365 * 86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        return Made(certificatePEM: try certificate.serializeAsPEM().pemString,
                    privateKeyPEM: key.pkcs8PEMRepresentation,
                    registered: try registered(certificate))
    }

    static func load(pem: String) throws -> SandboxApplication.RegisteredCertificate {
        try registered(try Certificate(pemEncoded: pem))
    }

    private static func registered(_ certificate: Certificate) throws -> SandboxApplication.RegisteredCertificate {
        guard let publicKey = _RSA.Signing.PublicKey(certificate.publicKey) else { throw SandboxRegistrationError.notRSA }
        return .init(thumbprint: try thumbprint(certificate), publicKey: publicKey)
    }

    /// base64url(SHA-256(DER)), Entra ID's `x5t#S256`.
    static func thumbprint(_ certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return SandboxBase64URL.encode(Data(SHA256.hash(data: serializer.serializedBytes)))
    }
}

public enum SandboxRegistrationError: Error, CustomStringConvertible {
    case notRSA

    public var description: String {
        switch self {
        case .notRSA: "the certificate's key is not RSA"
        }
    }
}
