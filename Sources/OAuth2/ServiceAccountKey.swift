import _CryptoExtras
import Foundation

/// A Google service account's JSON key file (the one the Cloud console downloads), for
/// domain-wide delegation. Equal when the fields read from the file are equal.
public struct ServiceAccountKey: Sendable {
    /// `client_email`: the JWT's `iss`.
    public let clientEmail: String
    /// `token_uri`: where the assertion is exchanged, unless the configuration sets `token_url`.
    public let tokenURI: String
    /// `private_key_id`: the JWT header's `kid`, when present.
    public let privateKeyID: String?
    let privateKey: _RSA.Signing.PrivateKey
    private let privateKeyPEM: String

    /// - Throws: `OAuth2CredentialError` with part `.serviceAccountKey` and the field at fault;
    ///   never quotes the key.
    public init<Bytes: DataProtocol>(json: Bytes) throws {
        func failure(_ field: String?, _ reason: String) -> OAuth2CredentialError {
            OAuth2CredentialError(part: .serviceAccountKey, field: field, reason: reason)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else {
            throw failure(nil, "not a JSON object")
        }
        func string(_ field: String, required: Bool) throws -> String? {
            switch object[field] {
            case nil, is NSNull:
                if required { throw failure(field, "missing") }
                return nil
            case let value as String:
                let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
                if trimmed.isEmpty {
                    if required { throw failure(field, "empty") }
                    return nil
                }
                return trimmed
            default:
                throw failure(field, "not a string")
            }
        }
        if let type = try string("type", required: false), type != "service_account" {
            // Only our own fixed wording or the short type name; never the rest of the file.
            let shown = type.count <= 40 && type.allSatisfy { $0.isLetter || $0 == "_" } ? "\"\(type)\"" : "another kind"
            throw failure("type", "is \(shown), not \"service_account\" (a user's credentials file is not a service account key)")
        }
        let clientEmail = try string("client_email", required: true)!
        guard clientEmail.contains("@"), !clientEmail.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw failure("client_email", "not an email address")
        }
        let privateKeyPEM = try string("private_key", required: true)!
        let tokenURI = try string("token_uri", required: false) ?? OAuth2Defaults.googleTokenURL
        guard RefreshTokenGrant.host(of: tokenURI) != nil else {
            throw failure("token_uri", "not an absolute http(s) URL")
        }
        self.privateKey = try ClientCertificate.privateKey(fromPEM: privateKeyPEM, part: .serviceAccountKey, field: "private_key")
        self.clientEmail = clientEmail
        self.tokenURI = tokenURI
        self.privateKeyID = try string("private_key_id", required: false)
        self.privateKeyPEM = privateKeyPEM
    }
}

extension ServiceAccountKey: Hashable {
    public static func == (lhs: ServiceAccountKey, rhs: ServiceAccountKey) -> Bool {
        lhs.clientEmail == rhs.clientEmail && lhs.tokenURI == rhs.tokenURI
            && lhs.privateKeyID == rhs.privateKeyID && lhs.privateKeyPEM == rhs.privateKeyPEM
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(clientEmail)
        hasher.combine(tokenURI)
        hasher.combine(privateKeyID)
        hasher.combine(privateKeyPEM)
    }
}

extension ServiceAccountKey: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        "ServiceAccountKey(clientEmail: \(clientEmail), privateKeyID: \(privateKeyID ?? "nil"), tokenURI: \(tokenURI), privateKey: <redacted>)"
    }

    public var debugDescription: String { description }
}
