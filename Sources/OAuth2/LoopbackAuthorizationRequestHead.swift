/// The head of one HTTP/1 request to the loopback listener, read with a hard size cap. The only
/// request that matters is the browser's `GET /callback?code=…`; a full HTTP parser would be
/// more surface than that needs, so this reads the request line and skips the headers.
public enum LoopbackRequestHead: Equatable, Sendable {
    /// The head has not ended yet: read more.
    case incomplete
    case request(method: String, target: String)
    /// No end of head within `maxBytes`.
    case tooLarge
    case malformed

    /// Browsers send a few hundred bytes of headers; Google's codes are ~100 characters.
    public static let maxBytes = 8192
    /// The request line alone; a longer target is not a redirect we issued.
    public static let maxRequestLineBytes = 4096

    /// `bytes` is everything received so far on the connection.
    public static func parse(_ bytes: [UInt8]) -> LoopbackRequestHead {
        guard let end = endOfHead(bytes) else {
            return bytes.count >= maxBytes ? .tooLarge : .incomplete
        }
        guard end <= maxBytes else { return .tooLarge }
        let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? end
        var line = bytes[..<lineEnd]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        guard line.count <= maxRequestLineBytes else { return .tooLarge }
        // Request line: METHOD SP request-target SP HTTP-version (RFC 9112 §3); printable ASCII only.
        guard line.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return .malformed }
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty,
              parts[2].starts(with: Array("HTTP/1.".utf8)) else { return .malformed }
        return .request(method: String(decoding: parts[0], as: UTF8.self), target: String(decoding: parts[1], as: UTF8.self))
    }

    /// Index just past the blank line ending the head (CRLF CRLF, or bare LF LF from a lax client).
    private static func endOfHead(_ bytes: [UInt8]) -> Int? {
        var index = 0
        let limit = min(bytes.count, maxBytes + 4)
        while index < limit {
            if bytes[index] == UInt8(ascii: "\n") {
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") { return index + 2 }
                if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "\r"), bytes[index + 2] == UInt8(ascii: "\n") { return index + 3 }
            }
            index += 1
        }
        return nil
    }
}
