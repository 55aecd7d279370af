import Foundation
import _CryptoExtras

/// A compact JWS as the sandbox receives or issues it: the decoded header and claims, and what
/// was signed. Parsing only splits and decodes; whether anything is true is the verifiers' job.
struct SandboxJWT {
    let header: [String: Any]
    let claims: [String: Any]
    /// `base64url(header) "." base64url(claims)`, the bytes the signature covers.
    let signingInput: [UInt8]
    let signature: Data

    enum Problem: Error {
        case malformed
    }

    init(compact: String) throws(Problem) {
        let parts = compact.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerData = SandboxBase64URL.decode(parts[0]), let claimsData = SandboxBase64URL.decode(parts[1]),
              let signature = SandboxBase64URL.decode(parts[2]), !signature.isEmpty,
              let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any],
              let claims = (try? JSONSerialization.jsonObject(with: claimsData)) as? [String: Any]
        else { throw .malformed }
        self.header = header
        self.claims = claims
        self.signingInput = Array("\(parts[0]).\(parts[1])".utf8)
        self.signature = signature
    }

    func headerString(_ name: String) -> String? { header[name] as? String }
    func string(_ name: String) -> String? { claims[name] as? String }

    /// A NumericDate claim (seconds since the epoch).
    func seconds(_ name: String) -> Double? {
        (claims[name] as? NSNumber)?.doubleValue
    }

    /// `aud` may be one string or an array of them (RFC 7519 §4.1.3).
    var audiences: [String] {
        if let one = claims["aud"] as? String { return [one] }
        return (claims["aud"] as? [Any])?.compactMap { $0 as? String } ?? []
    }

    func verifies(with key: _RSA.Signing.PublicKey, padding: _RSA.Signing.Padding) -> Bool {
        key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: signingInput, padding: padding)
    }

    /// Signs `claims` (a JSON object's text) RS256 with `key`, for the tokens the sandbox itself issues.
    static func signRS256(header: [String: String], claimsJSON: Data, key: _RSA.Signing.PrivateKey) throws -> String {
        let headerJSON = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        let input = SandboxBase64URL.encode(headerJSON) + "." + SandboxBase64URL.encode(claimsJSON)
        let signature = try key.signature(for: Array(input.utf8), padding: .insecurePKCS1v1_5)
        return input + "." + SandboxBase64URL.encode(signature.rawRepresentation)
    }
}

/// RFC 4648 §5 without padding, as JOSE and PKCE use it.
enum SandboxBase64URL {
    static func encode(_ bytes: some DataProtocol) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Nil for anything not in the URL-safe alphabet (standard base64 and padding included).
    static func decode(_ text: some StringProtocol) -> Data? {
        guard text.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("a"..."z").contains($0)
            || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }) else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if standard.count % 4 == 1 { return nil }
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: standard)
    }
}
