import Crypto

/// Proof Key for Code Exchange (RFC 7636) with the S256 method: the verifier stays with us and
/// goes only to the token endpoint, the challenge goes through the browser. An authorization code
/// caught on the way back (another local process on the loopback port, a browser extension) is
/// useless without the verifier.
public struct PKCE: Sendable, CustomStringConvertible {
    /// The only method we send; `plain` protects nothing against a code interceptor.
    public static let method = "S256"

    /// 32 random bytes give the 43-character verifier RFC 7636 §4.1 recommends (256 bits).
    public static let verifierByteCount = 32

    public let verifier: String

    /// The verifier as the caller gives it (tests: RFC 7636's appendix B vector). It must be
    /// 43 to 128 characters of `[A-Za-z0-9-._~]`; anything else returns nil.
    public init?(verifier: String) {
        guard (43...128).contains(verifier.utf8.count),
              verifier.utf8.allSatisfy({ Self.isUnreserved($0) }) else { return nil }
        self.verifier = verifier
    }

    /// A fresh verifier from the system's CSPRNG.
    public static func random() -> PKCE {
        // base64url of 32 bytes is 43 unreserved characters, so the initializer cannot refuse it.
        PKCE(uncheckedVerifier: base64URL(randomBytes(verifierByteCount)))
    }

    private init(uncheckedVerifier: String) {
        verifier = uncheckedVerifier
    }

    /// BASE64URL(SHA256(ASCII(verifier))), unpadded (RFC 7636 §4.2).
    public var challenge: String {
        Self.base64URL(Array(SHA256.hash(data: Array(verifier.utf8))))
    }

    /// The verifier is a secret until the exchange is done: never in a log line.
    public var description: String { "PKCE(S256, verifier: <redacted>)" }
}

extension PKCE {
    /// Bytes from `SystemRandomNumberGenerator`, which reads the kernel's CSPRNG (getrandom).
    /// Also what `state` values and generated passwords are made from.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<max(0, count)).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// RFC 4648 §5 without padding. Kept inside this type so it cannot clash with another
    /// base64url helper in the module.
    public static func base64URL(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            var chunk: UInt32 = 0
            for offset in 0..<3 { chunk = chunk << 8 | (offset < count ? UInt32(bytes[index + offset]) : 0) }
            // n input bytes make n + 1 output characters; the rest would be padding.
            for position in 0...count {
                out.append(alphabet[Int(chunk >> UInt32(18 - 6 * position) & 0x3F)])
            }
            index += count
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// RFC 3986's unreserved set, the alphabet of PKCE verifiers.
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}
