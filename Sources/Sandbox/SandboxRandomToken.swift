/// Unguessable tokens in URL-safe characters, so they survive forms, headers and SASL unescaped.
enum SandboxRandomToken {
    private static let alphabet: [Character] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    /// 48 characters of a 64-symbol alphabet: 288 bits.
    static let randomLength = 48

    static func make(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        var token = prefix
        token.reserveCapacity(prefix.count + randomLength)
        for _ in 0..<randomLength {
            token.append(alphabet[Int.random(in: 0..<alphabet.count, using: &generator)])
        }
        return token
    }

    /// `count` random bytes as lowercase hex (key ids, like Google's private_key_id).
    static func hex(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }
}
