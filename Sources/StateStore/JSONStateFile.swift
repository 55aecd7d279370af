import Foundation

/// Shared JSON handling for the stores: a versioned envelope, sanitized corruption reasons.
struct JSONStateFile<Value: Codable>: Sendable {
    let directory: StateDirectory
    let kind: String
    let onCorrupt: @Sendable (String, String) -> Void

    /// Bumped when the layout of `Value` changes incompatibly; other versions read as corrupt.
    static var formatVersion: Int { 1 }

    private struct Envelope: Codable {
        var version: Int
        var value: Value
    }

    private struct VersionOnly: Decodable {
        var version: Int
    }

    func name(forEmail email: String) -> String {
        StateDirectory.fileName(forAccountEmail: email, kind: kind)
    }

    /// The stored value, or nil if there is none. Anything unusable (unreadable, not JSON, wrong
    /// shape, failing `validate`) is reported through `onCorrupt` and read as nil.
    func load(email: String, validate: (Value) -> String? = { _ in nil }) -> Value? {
        let name = name(forEmail: email)
        let bytes: [UInt8]
        do throws(StateError) {
            guard let contents = try directory.contents(of: name) else { return nil }
            bytes = contents
        } catch {
            onCorrupt(name, error.errno == EFBIG ? "file is larger than \(StateDirectory.maximumFileSize) bytes"
                                                 : "unreadable: \(error)")
            return nil
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        let data = Data(bytes)
        do {
            let version = try decoder.decode(VersionOnly.self, from: data).version
            guard version == Self.formatVersion else {
                onCorrupt(name, "unsupported format version (expected \(Self.formatVersion))")
                return nil
            }
            let value = try decoder.decode(Envelope.self, from: data).value
            if let problem = validate(value) {
                onCorrupt(name, problem)
                return nil
            }
            return value
        } catch {
            onCorrupt(name, Self.reason(for: error))
            return nil
        }
    }

    func save(_ value: Value, email: String) throws(StateError) {
        let name = name(forEmail: email)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do {
            data = try encoder.encode(Envelope(version: Self.formatVersion, value: value))
        } catch {
            throw .encodingFailed(path: directory.filePath(name))
        }
        try directory.write(Array(data), name: name)
    }

    func remove(email: String) throws(StateError) {
        try directory.remove(name: name(forEmail: email))
    }

    /// A reason built only from the error's kind and coding path. Foundation's own messages can
    /// quote the offending input (e.g. "Unexpected character 'x'"), so they are never used.
    static func reason(for error: any Error) -> String {
        guard let error = error as? DecodingError else { return "unreadable" }
        switch error {
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "not valid JSON" }
            return "invalid value at \(path(context.codingPath))"
        case .keyNotFound(let key, let context):
            return "missing field \(path(context.codingPath + [key]))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type at \(path(context.codingPath))"
        @unknown default:
            return "unreadable"
        }
    }

    /// Field names come from our own CodingKeys (no stored type decodes a String-keyed dictionary);
    /// any other key is elided anyway, in case one ever does.
    private static func path(_ codingPath: [any CodingKey]) -> String {
        let known: Set<String> = ["version", "value", "refreshToken", "mountedFingerprint", "savedAt",
                                  "bucketSeconds", "messages", "recipients"]
        let parts = codingPath.map { key -> String in
            if let index = key.intValue { return "[\(index)]" }
            return known.contains(key.stringValue) ? "." + key.stringValue : ".<key>"
        }
        let joined = parts.joined()
        return joined.isEmpty ? "top level" : (joined.hasPrefix(".") ? String(joined.dropFirst()) : joined)
    }
}
