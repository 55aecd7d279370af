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
}
