import Crypto
import _CryptoExtras
import Foundation
import SwiftASN1
import X509

/// A certificate registered with the identity provider and its RSA private key, for signing
/// `client_assertion` JWTs.
///
/// Equal when the PEM texts are equal: the relay re-reads the files at every reload and keeps the
/// cached token only while nothing changed, so a renewed certificate or key at the same path must
/// make a different value even if it were to parse to something that compares equal.
public struct ClientCertificate: Sendable {
    /// The certificate's DER, as in the file (the first CERTIFICATE block; a chain may follow it).
    public let certificateDER: [UInt8]
    /// `x5t#S256`: base64url (no padding) of SHA-256 of `certificateDER`. Public; safe to log.
    public let thumbprintSHA256: String
    let privateKey: _RSA.Signing.PrivateKey
    private let certificatePEM: String
    private let privateKeyPEM: String

    /// - Throws: `OAuth2CredentialError` naming `.certificate` or `.privateKey`, or `.privateKey`
    ///   when the key is not the certificate's. The message never quotes either input.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        guard !certificatePEM.allSatisfy(\.isWhitespace) else {
            throw OAuth2CredentialError(part: .certificate, reason: "is empty")
        }
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: certificatePEM)
        } catch {
            throw OAuth2CredentialError(part: .certificate, reason: "not valid PEM (expected a -----BEGIN CERTIFICATE----- block)")
        }
        guard let certificateDocument = documents.first(where: { $0.discriminator == "CERTIFICATE" }) else {
            throw OAuth2CredentialError(part: .certificate, reason: "no -----BEGIN CERTIFICATE----- block found")
        }
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: certificateDocument.derBytes)
        } catch {
            throw OAuth2CredentialError(part: .certificate, reason: "the CERTIFICATE block is not a valid X.509 certificate")
        }
        guard let certificateKey = _RSA.Signing.PublicKey(certificate.publicKey) else {
            throw OAuth2CredentialError(part: .certificate, reason: "its public key is not RSA (PS256 needs an RSA key)")
        }

        let key = try Self.privateKey(fromPEM: privateKeyPEM)
        guard key.publicKey.derRepresentation == certificateKey.derRepresentation else {
            throw OAuth2CredentialError(part: .privateKey, reason: "does not match the certificate's public key")
        }

        self.certificateDER = certificateDocument.derBytes
        self.thumbprintSHA256 = Base64URL.encode(SHA256.hash(data: certificateDocument.derBytes))
        self.privateKey = key
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }

    /// An unencrypted RSA key, PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`), 2048 bits or more.
    static func privateKey(fromPEM pem: String, part: OAuth2CredentialError.Part = .privateKey,
                           field: String? = nil) throws -> _RSA.Signing.PrivateKey {
        func failure(_ reason: String) -> OAuth2CredentialError {
            OAuth2CredentialError(part: part, field: field, reason: reason)
        }
        if pem.allSatisfy(\.isWhitespace) { throw failure("is empty") }
        if pem.contains("ENCRYPTED") {
            throw failure("is encrypted; an unencrypted PKCS#8 or PKCS#1 PEM key is needed")
        }
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: pem)
        } catch {
            throw failure("not valid PEM (expected a -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY----- block)")
        }
        let keyDocuments = documents.filter { $0.discriminator == "PRIVATE KEY" || $0.discriminator == "RSA PRIVATE KEY" }
        guard let document = keyDocuments.first else {
            if documents.contains(where: { $0.discriminator == "EC PRIVATE KEY" }) {
                throw failure("is not an RSA key (PS256 and RS256 need RSA)")
            }
            throw failure("no -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY----- block found")
        }
        guard keyDocuments.count == 1 else { throw failure("holds more than one private key") }
        let small: _RSA.Signing.PrivateKey
        do {
            small = try _RSA.Signing.PrivateKey(unsafeDERRepresentation: document.derBytes)
        } catch {
            // A PKCS#8 key of another type reads as a key, just not an RSA one.
            if (try? Certificate.PrivateKey(pemDocument: document)) != nil {
                throw failure("is not an RSA key (PS256 and RS256 need RSA)")
            }
            throw failure("the \(document.discriminator) block is not a readable RSA private key")
        }
        guard small.keySizeInBits >= 2048 else {
            throw failure("RSA key of \(small.keySizeInBits) bits; at least 2048 are needed")
        }
        do {
            return try _RSA.Signing.PrivateKey(derRepresentation: document.derBytes)
        } catch {
            throw failure("the \(document.discriminator) block is not a usable RSA private key")
        }
    }
}

extension ClientCertificate: Hashable {
    public static func == (lhs: ClientCertificate, rhs: ClientCertificate) -> Bool {
        lhs.certificatePEM == rhs.certificatePEM && lhs.privateKeyPEM == rhs.privateKeyPEM
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(certificatePEM)
        hasher.combine(privateKeyPEM)
    }
}

extension ClientCertificate: CustomStringConvertible, CustomDebugStringConvertible {
    /// The thumbprint identifies the certificate (it is what the portal shows); the key is never shown.
    public var description: String { "certificate(x5t#S256: \(thumbprintSHA256), privateKey: <redacted>)" }
    public var debugDescription: String { description }
}
