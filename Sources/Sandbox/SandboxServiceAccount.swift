import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import _CryptoExtras

/// A Google service account key as `makeServiceAccount` hands it out: the JSON key file a
/// deployment mounts (`service_account_file`), shaped like the one the Cloud console downloads.
public struct SandboxServiceAccountKey: Sendable, CustomStringConvertible {
    public let email: String
    /// Google's numeric client id: what an admin enters for domain-wide delegation.
    public let clientID: String
    public let keyID: String
    public let projectID: String
    /// The key file's text. Secret: holds the private key.
    public let json: String
    /// PKCS#8 PEM. Secret.
    public let privateKeyPEM: String

    public var description: String {
        "SandboxServiceAccountKey(email: \(email), clientID: \(clientID), keyID: \(keyID), privateKey: <redacted>)"
    }

    /// Writes the key file mode 0600, as a Secret is mounted.
    public func write(to path: String) throws {
        try SandboxFiles.writePrivate(Data(json.utf8), to: path)
    }
}

/// One service account as the issuer keeps it.
struct SandboxServiceAccount {
    static let mailScope = "https://mail.google.com/"
    /// Google refuses assertions valid for longer than an hour.
    static let maximumLifetime: Double = 3600

    var email: String
    var keyID: String
    var key: _RSA.Signing.PrivateKey
    /// Domain-wide delegation: the mailboxes it may name as `sub`.
    var scope: SandboxMailboxScope

    static func make(name: String, projectID: String, scope: SandboxMailboxScope, tokenURI: String)
        throws -> (SandboxServiceAccount, SandboxServiceAccountKey) {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let email = "\(name)@\(projectID).iam.gserviceaccount.com"
        let keyID = SandboxRandomToken.hex(bytes: 20)
        let clientID = "1" + (0..<20).map { _ in String(Int.random(in: 0...9)) }.joined()
        let pem = key.pkcs8PEMRepresentation
        let file: [String: String] = [
            "type": "service_account",
            "project_id": projectID,
            "private_key_id": keyID,
            "private_key": pem,
            "client_email": email,
            "client_id": clientID,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": tokenURI,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/\(email)",
            "universe_domain": "googleapis.com",
        ]
        let json = try JSONSerialization.data(withJSONObject: file, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        let account = SandboxServiceAccount(email: email, keyID: keyID, key: key, scope: scope)
        return (account, SandboxServiceAccountKey(email: email, clientID: clientID, keyID: keyID, projectID: projectID,
                                                  json: String(decoding: json, as: UTF8.self), privateKeyPEM: pem))
    }
}

/// Google's checks of a `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` assertion
/// (developers.google.com/identity/protocols/oauth2/service-account, "Preparing to make an
/// authorized API call"), with the errors Google answers.
enum SandboxJWTBearer {
    static let grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    static let allowedSkew: Double = 60

    struct Verified {
        var serviceAccount: String
        /// The mailbox the token is for; nil when the assertion named none (a token for the
        /// service account itself, good for no mailbox).
        var subject: String?
    }

    static func invalidGrant(_ description: String) -> SandboxRefusal {
        SandboxRefusal(outcome: .error(status: 400, code: "invalid_grant", description: description))
    }

    static let unauthorized = SandboxRefusal(outcome: .error(
        status: 401, code: "unauthorized_client",
        description: "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."))

    /// `issuer` is the claimed service account's email when the JWT parses, for the request log
    /// even when verification fails.
    static func verify(_ assertion: String, accounts: [String: SandboxServiceAccount], audiences: Set<String>, now: Double,
                       issuer: inout String?) throws(SandboxRefusal) -> Verified {
        let jwt: SandboxJWT
        do {
            jwt = try SandboxJWT(compact: assertion)
        } catch {
            throw invalidGrant("Invalid JWT: malformed.")
        }
        issuer = jwt.string("iss")
        guard let email = jwt.string("iss"), let account = accounts[email.lowercased()] else {
            throw invalidGrant("Invalid grant: account not found")
        }
        guard jwt.headerString("alg") == "RS256", jwt.headerString("kid").map({ $0 == account.keyID }) ?? true,
              jwt.verifies(with: account.key.publicKey, padding: .insecurePKCS1v1_5) else {
            throw invalidGrant("Invalid JWT Signature.")
        }
        guard jwt.audiences.contains(where: audiences.contains) else {
            throw invalidGrant("Invalid JWT: Failed audience check. The expected audience is the token endpoint \(audiences.sorted().first ?? "").")
        }
        guard let iat = jwt.seconds("iat"), let exp = jwt.seconds("exp"),
              iat <= now + allowedSkew, exp > now, exp - iat <= SandboxServiceAccount.maximumLifetime else {
            throw invalidGrant("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
        }
        let scopes = (jwt.string("scope") ?? "").split(separator: " ").map(String.init)
        guard !scopes.isEmpty else {
            throw SandboxRefusal(outcome: .error(status: 400, code: "invalid_scope", description: "Empty or missing scope not allowed."))
        }
        guard scopes.contains(SandboxServiceAccount.mailScope) else { throw unauthorized }
        let subject = jwt.string("sub")
        if let subject, !account.scope.allows(subject) { throw unauthorized }
        return Verified(serviceAccount: account.email, subject: subject)
    }
}

/// Files a deployment mounts: private ones are written mode 0600, and replaced in one rename so
/// a reader (the proxy re-reading a rotated token) never sees half a file.
enum SandboxFiles {
    static func writePrivate(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-" + SandboxRandomToken.hex(bytes: 6)
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        guard rename(temporary, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
