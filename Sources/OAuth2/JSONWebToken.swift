import _CryptoExtras
import Crypto
import Foundation

/// The JWTs the app-only grants send: compact serialisation, signed with swift-crypto's RSA.
/// Only what we produce is supported; nothing here parses or verifies tokens.
enum JSONWebToken {
    enum Algorithm: String {
        /// RSASSA-PSS, SHA-256, MGF1 SHA-256, 32-byte salt: Microsoft's certificate credentials.
        case PS256
        /// RSASSA-PKCS1-v1_5 with SHA-256: Google's service-account assertions.
        case RS256

        var padding: _RSA.Signing.Padding {
            switch self {
            case .PS256: .PSS
            case .RS256: .insecurePKCS1v1_5
            }
        }
    }

    /// `header.claims` in base64url, the part a signature covers.
    static func signingInput(header: [String: Any], claims: [String: Any]) throws -> String {
        "\(Base64URL.encode(try json(header))).\(Base64URL.encode(try json(claims)))"
    }

    static func sign(header: [String: Any], claims: [String: Any], algorithm: Algorithm,
                     key: _RSA.Signing.PrivateKey) throws -> String {
        var header = header
        header["alg"] = algorithm.rawValue
        header["typ"] = "JWT"
        let input = try signingInput(header: header, claims: claims)
        let signature = try key.signature(for: SHA256.hash(data: Array(input.utf8)), padding: algorithm.padding)
        return "\(input).\(Base64URL.encode(signature.rawRepresentation))"
    }

    /// Compact JSON with sorted keys (reproducible) and unescaped slashes (URLs stay readable).
    static func json(_ object: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// A unique `jti`: 128 random bits.
    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}
