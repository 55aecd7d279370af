import Foundation

/// SASL mechanisms the proxy speaks: PLAIN and LOGIN towards apps, XOAUTH2 towards providers.
public enum SASL {
    public struct Credentials: Sendable, Hashable {
        public var username: String
        public var password: String
        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    public enum DecodeError: Error, Sendable, Hashable {
        case notBase64
        case malformed
    }

    /// RFC 4616: base64(`authzid NUL authcid NUL passwd`). An authzid different from the
    /// authcid would be a request to act as someone else, which we do not offer.
    public static func decodePlain(_ base64: String) -> Result<Credentials, DecodeError> {
        guard let bytes = decodeBase64(base64) else { return .failure(.notBase64) }
        let parts = bytes.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3,
              let authzid = String(validating: parts[0], as: UTF8.self),
              let authcid = String(validating: parts[1], as: UTF8.self),
              let password = String(validating: parts[2], as: UTF8.self),
              !authcid.isEmpty
        else { return .failure(.malformed) }
        if !authzid.isEmpty, authzid.lowercased() != authcid.lowercased() { return .failure(.malformed) }
        return .success(Credentials(username: authcid, password: password))
    }

    /// One AUTH LOGIN step: a base64 string that decodes to UTF-8.
    public static func decodeLoginField(_ base64: String) -> Result<String, DecodeError> {
        guard let bytes = decodeBase64(base64) else { return .failure(.notBase64) }
        guard let text = String(validating: bytes, as: UTF8.self) else { return .failure(.malformed) }
        return .success(text)
    }

    /// The base64 challenge texts of AUTH LOGIN ("Username:", "Password:").
    public static let loginUsernameChallenge = "VXNlcm5hbWU6"
    public static let loginPasswordChallenge = "UGFzc3dvcmQ6"

    /// Google / Microsoft XOAUTH2 initial response: base64(`user=EMAIL^Aauth=Bearer TOKEN^A^A`).
    public static func xoauth2InitialResponse(email: String, accessToken: String) -> String {
        let raw = "user=\(email)\u{01}auth=Bearer \(accessToken)\u{01}\u{01}"
        return Data(raw.utf8).base64EncodedString()
    }

    /// The inverse, for the sandbox provider: (user, token) or nil if malformed.
    ///
    /// Works on bytes: comparing `String`s would compare grapheme clusters, and a combining
    /// mark right after `user=` or `Bearer ` joins the `=` or the space into one character, so
    /// the prefix no longer matched (found by fuzzing, Tests/SMTPCoreTests/FuzzFindingsTests.swift).
    public static func decodeXOAUTH2(_ base64: String) -> (user: String, token: String)? {
        guard let bytes = decodeBase64(base64), String(validating: bytes, as: UTF8.self) != nil else { return nil }
        var user: String?
        var token: String?
        let userPrefix = Array("user=".utf8)
        let authPrefix = Array("auth=bearer ".utf8)
        // 0x01 and the ASCII prefixes sit on scalar boundaries, so every piece stays valid UTF-8.
        for field in bytes.split(separator: 0x01, omittingEmptySubsequences: true) {
            if field.starts(with: userPrefix) { user = String(decoding: field.dropFirst(userPrefix.count), as: UTF8.self) }
            if field.count >= authPrefix.count,
               zip(field, authPrefix).allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0) == $1 }) {
                token = String(decoding: field.dropFirst(authPrefix.count), as: UTF8.self)
            }
        }
        guard let user, let token, !user.isEmpty, !token.isEmpty else { return nil }
        return (user, token)
    }

    public static func encodeBase64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// Strict base64: no whitespace, correct padding. "=" alone is an empty response (RFC 4954).
    public static func decodeBase64(_ text: String) -> [UInt8]? {
        if text == "=" { return [] }
        guard let data = Data(base64Encoded: text) else { return nil }
        return Array(data)
    }
}
