import Foundation

/// The local SMTP password `authorize` generates for the app: the relay will send as the mailbox
/// for anyone who has it, so it is long and random, and made only of letters and digits so it
/// survives YAML, shells, URLs and copy-paste unquoted.
enum AuthorizePassword {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    /// 32 characters of 62: about 190 bits.
    static let length = 32

    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }

    /// `Int.random(in:using:)` is uniform (no modulo bias); the system generator is the kernel's CSPRNG.
    static func generate<Generator: RandomNumberGenerator>(using generator: inout Generator) -> String {
        String((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    /// Entropy in bits of a generated password.
    static var entropyBits: Double {
        Double(length) * log2(Double(alphabet.count))
    }
}
