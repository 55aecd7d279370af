import Crypto
import Foundation
@testable import Sandbox
import Synchronization
import Testing
import _CryptoExtras

/// JWTs built here with _CryptoExtras, independently of the sandbox's own JWT code and of the
/// OAuth2 module: the sandbox is checked against the standards, not against our client.
enum TestJWT {
    static func base64URL(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func sign(header: [String: Any], claims: [String: Any], key: _RSA.Signing.PrivateKey,
                     padding: _RSA.Signing.Padding) throws -> String {
        let input = base64URL(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) + "."
            + base64URL(try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]))
        let signature = try key.signature(for: Array(input.utf8), padding: padding)
        return input + "." + base64URL(signature.rawRepresentation)
    }

    /// The claims of a compact JWT, decoded without verifying.
    static func claims(_ jwt: String) throws -> [String: Any] {
        let part = jwt.split(separator: ".")[1]
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        let data = try #require(Data(base64Encoded: text))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// `x5t#S256` computed here: base64url(SHA-256(DER of the certificate)).
    static func thumbprint(certificatePEM: String) throws -> String {
        let body = certificatePEM.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let der = try #require(Data(base64Encoded: body))
        return base64URL(Data(SHA256.hash(data: der)))
    }

    /// Merges `overrides` into `base`; an `NSNull` value removes the claim.
    static func merged(_ base: [String: Any], _ overrides: [String: Any]) -> [String: Any] {
        var result = base
        for (key, value) in overrides {
            if value is NSNull { result[key] = nil } else { result[key] = value }
        }
        return result
    }
}

/// A clock the tests move; the issuer reads it for expiry, polling and JWT times.
final class TestClock: Sendable {
    private let current = Mutex(ContinuousClock.now)
    var now: @Sendable () -> ContinuousClock.Instant { { [self] in current.withLock { $0 } } }
    func advance(_ duration: Duration) { current.withLock { $0 = $0 + duration } }
}

extension SandboxTokenOutcome {
    var accessToken: String? {
        if case .issued(let token, _, _) = self { return token }
        return nil
    }

    var refreshToken: String? {
        if case .issued(_, _, let refresh) = self { return refresh }
        return nil
    }

    var errorCodes: [Int] {
        if case .microsoftError(_, _, _, let codes) = self { return codes }
        return []
    }
}

extension SandboxHTTPResponse {
    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
    }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// An application/x-www-form-urlencoded body.
func formBody(_ fields: [(String, String)]) -> String {
    let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    return fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
}

let formContentType = [("content-type", "application/x-www-form-urlencoded")]
