import Crypto
import Foundation

/// The key that encrypts what the fleet database holds of tokens (`--state-key-file`): AES-256-GCM,
/// with the credential key and the row's generation as associated data, so that a row's
/// ciphertext does not decrypt under another account, nor under another generation of the same
/// (an old row written back cannot pass for the current one).
///
/// The file holds 32 bytes: raw, or as 64 hex digits, or as base64 (standard or URL-safe alphabet),
/// a trailing newline allowed. `openssl rand 32 > key`, `openssl rand -hex 32` and
/// `openssl rand -base64 32` all make one.
public struct StateKey: Sendable {
    let key: SymmetricKey

    /// Reads the file. Blocking: call it at start-up, not on an event loop.
    public init(contentsOf path: String) throws(StateKeyError) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadable(path: path, reason: Self.reason(error))
        }
        try self.init(parsing: Array(data), path: path)
    }

    /// `path` only names the file in errors, which never quote its content.
    public init(parsing bytes: [UInt8], path: String) throws(StateKeyError) {
        key = SymmetricKey(data: try Self.keyBytes(bytes, path: path))
    }

    static func keyBytes(_ bytes: [UInt8], path: String) throws(StateKeyError) -> [UInt8] {
        if bytes.count == 32 { return bytes }
        var text = bytes[...]
        while let last = text.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { text = text.dropLast() }
        guard !text.isEmpty else { throw .malformed(path: path, reason: "the file is empty") }
        if let decoded = hex(text) ?? base64(text) {
            guard decoded.count == 32 else { throw .malformed(path: path, reason: "it decodes to \(decoded.count) bytes, not 32") }
            return decoded
        }
        throw .malformed(path: path, reason: "it holds \(bytes.count) bytes that are neither 32 raw bytes nor hex or base64 text")
    }

    private static func hex(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count % 2 == 0, text.count == 64 else { return nil }
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func base64(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard var string = String(bytes: text, encoding: .ascii) else { return nil }
        string = string.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while string.count % 4 != 0 { string += "=" }
        return Data(base64Encoded: string).map(Array.init)
    }

    private static func reason(_ error: any Error) -> String {
        // Foundation's description names the file and the errno, never the content.
        (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    }

    // MARK: - Sealing

    /// Nonce, ciphertext and tag in one (AES-GCM's "combined" form): what the row stores.
    func seal(_ plaintext: [UInt8], credentialKey: String, generation: Int64) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Self.associatedData(credentialKey: credentialKey, generation: generation))
        guard let combined = box.combined else { throw CryptoKitError.incorrectParameterSize }
        return Array(combined)
    }

    /// Throws for anything not sealed by this key for exactly this credential and generation.
    func open(_ sealed: [UInt8], credentialKey: String, generation: Int64) throws -> [UInt8] {
        let box = try AES.GCM.SealedBox(combined: sealed)
        return Array(try AES.GCM.open(box, using: key, authenticating: Self.associatedData(credentialKey: credentialKey, generation: generation)))
    }

    /// A version tag, the key's length (so that no two keys' encodings run into each other),
    /// the key, the generation.
    static func associatedData(credentialKey: String, generation: Int64) -> [UInt8] {
        let keyBytes = Array(credentialKey.utf8)
        return Array("xoauth2-proxy fleet token v1\0".utf8) + Array("\(keyBytes.count):".utf8) + keyBytes + Array("\0\(generation)".utf8)
    }
}

public enum StateKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "state key file \(path): cannot be read: \(reason)"
        case .malformed(let path, let reason):
            "state key file \(path): \(reason); expected a 32-byte key, raw or as 64 hex digits or base64 (e.g. openssl rand -base64 32)"
        }
    }
}
