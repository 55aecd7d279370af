// SASL PLAIN / LOGIN decoding (what apps send after AUTH) and the XOAUTH2 string.
// The payload is tried both as the base64 text a client sends and as the decoded message
// (then base64-encoded here, so the fuzzer reaches the NUL-separated grammar directly).
// Properties: decodePlain agrees with a reference reading of RFC 4616; accepted credentials
// re-encode to the same credentials; XOAUTH2 strings round-trip.
import Foundation
import FuzzSupport
import SMTPCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let text = String(decoding: bytes, as: UTF8.self)

    // As sent: any text.
    if case .success(let credentials) = SASL.decodePlain(text) {
        checkRoundTrip(credentials)
    }
    if let decoded = SASL.decodeBase64(text) {
        fuzzCheck(SASL.decodeBase64(Data(decoded).base64EncodedString()) == decoded, "base64 round trip")
        fuzzCheck(SASL.decodeLoginField(text) == (String(validating: decoded, as: UTF8.self).map { .success($0) } ?? .failure(.malformed)),
                  "decodeLoginField disagrees with decodeBase64")
    } else {
        fuzzCheck(SASL.decodeLoginField(text) == .failure(.notBase64), "decodeLoginField accepted what decodeBase64 refused")
    }
    _ = SASL.decodeXOAUTH2(text)

    // As the decoded message.
    let encoded = Data(bytes).base64EncodedString()
    let plain = SASL.decodePlain(encoded)
    let expected = referencePlain(bytes)
    fuzzCheck(plain == expected, "decodePlain(\(escaped(bytes))) = \(plain), RFC 4616 reading: \(expected)")
    fuzzCheck(SASL.decodeLoginField(encoded) == (String(validating: bytes, as: UTF8.self).map { .success($0) } ?? .failure(.malformed)),
              "decodeLoginField(\(escaped(bytes)))")

    // XOAUTH2: user and token split at the first 0xFF byte.
    if let split = bytes.firstIndex(of: 0xFF) {
        let user = String(decoding: bytes[..<split], as: UTF8.self)
        let token = String(decoding: bytes[(split + 1)...], as: UTF8.self)
        if !user.isEmpty, !token.isEmpty, !user.unicodeScalars.contains("\u{01}"), !token.unicodeScalars.contains("\u{01}") {
            let decoded = SASL.decodeXOAUTH2(SASL.xoauth2InitialResponse(email: user, accessToken: token))
            fuzzCheck(decoded?.user == user && decoded?.token == token,
                      "XOAUTH2 round trip of user \(escaped(Array(user.utf8))) token \(escaped(Array(token.utf8))): \(String(describing: decoded))")
        }
    }
    return 0
}

/// RFC 4616 `[authzid] NUL authcid NUL passwd`, UTF-8, authcid not empty; we also refuse an
/// authzid that names someone else (case-insensitively).
func referencePlain(_ message: [UInt8]) -> Result<SASL.Credentials, SASL.DecodeError> {
    guard let first = message.firstIndex(of: 0),
          let second = message[(first + 1)...].firstIndex(of: 0),
          let authzid = String(validating: message[..<first], as: UTF8.self),
          let authcid = String(validating: message[(first + 1)..<second], as: UTF8.self),
          let password = String(validating: message[(second + 1)...], as: UTF8.self),
          !authcid.isEmpty
    else { return .failure(.malformed) }
    if !authzid.isEmpty, authzid.lowercased() != authcid.lowercased() { return .failure(.malformed) }
    return .success(SASL.Credentials(username: authcid, password: password))
}

func checkRoundTrip(_ credentials: SASL.Credentials) {
    fuzzCheck(!credentials.username.isEmpty && !credentials.username.utf8.contains(0), "username \(escaped(Array(credentials.username.utf8)))")
    let message = [0] + Array(credentials.username.utf8) + [0] + Array(credentials.password.utf8)
    let again = SASL.decodePlain(Data(message).base64EncodedString())
    fuzzCheck(again == .success(credentials), "credentials do not re-encode: \(again)")
}

/// See runLibFuzzer: the entry point a debug build's `main` is linked to.
@_cdecl("FuzzSASL_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
