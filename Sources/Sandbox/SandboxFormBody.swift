import Foundation

/// Decodes application/x-www-form-urlencoded request bodies for the sandbox token endpoint.
enum SandboxFormBody {
    enum Problem: Error, Equatable {
        case notUTF8
        case badPercentEscape
        /// RFC 6749 §3.2: parameters must not be repeated.
        case repeatedField(String)
    }

    static func decode(_ bytes: some Collection<UInt8>) throws(Problem) -> [String: String] {
        guard let text = String(bytes: bytes, encoding: .utf8) else { throw .notUTF8 }
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try unescape(parts[0])
            let value = parts.count > 1 ? try unescape(parts[1]) : ""
            guard fields[name] == nil else { throw .repeatedField(name) }
            fields[name] = value
        }
        return fields
    }

    private static func unescape(_ part: Substring) throws(Problem) -> String {
        // Form encoding writes space as "+"; removingPercentEncoding does not know that.
        let spaced = part.replacingOccurrences(of: "+", with: " ")
        guard let decoded = spaced.removingPercentEncoding else { throw .badPercentEscape }
        return decoded
    }
}
