import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SwiftASN1
import X509

/// A throwaway certificate authority and the server certificates it signs, made at run time
/// so no key material lives in the repository: for the proxy's own listener in tests and
/// checks (`--tls-cert`, `--tls-key`), trusted by clients through `certificatePEM`. Shaped like
/// what cert-manager issues (a CA with key identifiers, a leaf for serverAuth with the names
/// in subjectAltName), so strict verifiers (Python 3.13's X509_STRICT) accept it too.
public struct SandboxCertificateAuthority: Sendable {
    public let certificatePEM: String
    private let certificate: Certificate
    private let key: P256.Signing.PrivateKey

    public static func generate(commonName: String = "xoauth2-proxy sandbox CA", validFor: TimeInterval = 7 * 86400) throws -> SandboxCertificateAuthority {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(validFor),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        return SandboxCertificateAuthority(certificatePEM: try certificate.serializeAsPEM().pemString, certificate: certificate, key: key)
    }

    /// A server certificate signed by this authority, for `dnsNames` and the IP addresses in
    /// `ipAddresses` (dotted quads or IPv6 text), with a fresh key and a random serial number.
    public func issue(commonName: String = "localhost", dnsNames: [String] = ["localhost"],
                      ipAddresses: [String] = ["127.0.0.1", "::1"], validFor: TimeInterval = 7 * 86400) throws -> IssuedCertificate {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let serial = Certificate.SerialNumber()
        var names = dnsNames.map { GeneralName.dnsName($0) }
        for address in ipAddresses {
            guard let bytes = Self.addressBytes(address) else { throw SandboxCertificateError.notAnIPAddress(address) }
            names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
        }
        let now = Date()
        let leaf = try Certificate(
            version: .v3,
            serialNumber: serial,
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(validFor),
            issuer: certificate.subject,
            subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: Certificate.PrivateKey(self.key))
        return IssuedCertificate(
            certificatePEM: try leaf.serializeAsPEM().pemString,
            privateKeyPEM: key.pemRepresentation,
            serialNumber: Self.hex(serial.bytes))
    }

    /// Upper-case hex without leading zero bytes (a DER integer's sign byte), as OpenSSL prints serials.
    static func hex<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let significant = bytes.drop { $0 == 0 }
        return (significant.isEmpty ? [0] : Array(significant)).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }

    private static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if text.withCString({ inet_pton(AF_INET, $0, &v4) }) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if text.withCString({ inet_pton(AF_INET6, $0, &v6) }) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// Writes `ca.crt`, `tls.crt` and `tls.key` into `directory`, the keys a cert-manager
    /// Secret holds, for a server certificate covering localhost, 127.0.0.1 and ::1. The key
    /// is written mode 0600: make it readable by whoever runs the proxy.
    public static func writeServerFiles(toDirectory directory: String) throws -> IssuedCertificate {
        let authority = try generate()
        let issued = try authority.issue()
        let base = URL(fileURLWithPath: directory)
        try authority.certificatePEM.write(to: base.appendingPathComponent("ca.crt"), atomically: true, encoding: .utf8)
        try issued.certificatePEM.write(to: base.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
        let keyPath = base.appendingPathComponent("tls.key").path
        guard FileManager.default.createFile(atPath: keyPath, contents: Data(issued.privateKeyPEM.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: keyPath])
        }
        return issued
    }
}

/// A server certificate and its key, as PEM text.
public struct IssuedCertificate: Sendable {
    public let certificatePEM: String
    public let privateKeyPEM: String
    /// Upper-case hex, as OpenSSL and Python's `getpeercert()["serialNumber"]` print it.
    public let serialNumber: String
}

public enum SandboxCertificateError: Error, CustomStringConvertible {
    case notAnIPAddress(String)
    public var description: String {
        switch self {
        case .notAnIPAddress(let text): "not an IP address: \(text)"
        }
    }
}
