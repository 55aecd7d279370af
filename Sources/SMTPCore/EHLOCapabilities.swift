/// What an upstream advertised in its EHLO reply.
public struct EHLOCapabilities: Sendable, Hashable {
    /// Keyword (upper-cased) → parameters as advertised.
    public var keywords: [String: [String]]

    public init(keywords: [String: [String]] = [:]) {
        self.keywords = keywords
    }

    /// The first line is the server's greeting domain; each later line is one extension.
    public init(ehloReply: SMTPReply) {
        var keywords: [String: [String]] = [:]
        for line in ehloReply.lines.dropFirst() {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = words.first else { continue }
            keywords[first.uppercased()] = words.dropFirst().map(String.init)
        }
        self.keywords = keywords
    }

    public func supports(_ keyword: String) -> Bool { keywords[keyword.uppercased()] != nil }

    public var pipelining: Bool { supports("PIPELINING") }
    public var startTLS: Bool { supports("STARTTLS") }
    public var eightBitMIME: Bool { supports("8BITMIME") }
    public var smtpUTF8: Bool { supports("SMTPUTF8") }

    /// SIZE's limit, nil when not advertised; 0 means "no fixed limit" (RFC 1870).
    public var maxMessageSize: Int? {
        guard let parameters = keywords["SIZE"] else { return nil }
        return parameters.first.flatMap { Int($0) } ?? 0
    }

    public var authMechanisms: Set<String> {
        Set((keywords["AUTH"] ?? []).map { $0.uppercased() })
    }
}
