/// Parses one command line (without its CRLF). Pure; the caller enforces line length.
public enum SMTPCommandParser {
    /// RFC 5321 4.5.3.1.3: a path is at most 256 octets.
    public static let maxPathLength = 256

    public static func parse(_ bytes: some Collection<UInt8>) -> Result<SMTPCommand, SMTPCommandError> {
        guard let line = String(validating: bytes, as: UTF8.self) else { return .failure(.invalidEncoding) }
        if line.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7F }) {
            return .failure(.syntax("control characters in command"))
        }
        return parse(line)
    }

    public static func parse(_ line: String) -> Result<SMTPCommand, SMTPCommandError> {
        let verbEnd = line.firstIndex(of: " ") ?? line.endIndex
        let verb = line[..<verbEnd].uppercased()
        let rest = line[verbEnd...].drop { $0 == " " }
        let argument = rest.reversed().drop { $0 == " " }.reversed()
        let arg = String(argument)

        switch verb {
        case "EHLO", "HELO":
            guard !arg.isEmpty, !arg.contains(" ") else { return .failure(.syntax("\(verb) needs a domain")) }
            return .success(verb == "EHLO" ? .ehlo(arg) : .helo(arg))
        case "MAIL":
            return parsePath(arg, prefix: "FROM:", allowNull: true).map { .mail(from: $0.0, parameters: $0.1) }
        case "RCPT":
            return parsePath(arg, prefix: "TO:", allowNull: false).map { .rcpt(to: $0.0, parameters: $0.1) }
        case "DATA", "RSET", "QUIT", "STARTTLS":
            guard arg.isEmpty else { return .failure(.syntax("\(verb) takes no arguments")) }
            switch verb {
            case "DATA": return .success(.data)
            case "RSET": return .success(.rset)
            case "QUIT": return .success(.quit)
            default: return .success(.starttls)
            }
        case "NOOP":
            return .success(.noop)
        case "HELP":
            return .success(.help)
        case "VRFY":
            guard !arg.isEmpty else { return .failure(.syntax("VRFY needs an argument")) }
            return .success(.vrfy(arg))
        case "AUTH":
            let words = arg.split(separator: " ", omittingEmptySubsequences: true)
            guard (1...2).contains(words.count) else { return .failure(.syntax("AUTH mechanism [initial-response]")) }
            return .success(.auth(mechanism: words[0].uppercased(), initialResponse: words.count == 2 ? String(words[1]) : nil))
        case "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH":
            return .failure(.httpRequest)
        default:
            return .failure(.unrecognized)
        }
    }

    /// `FROM:<path> params`, tolerating a space after the colon as many clients send one.
    static func parsePath(_ argument: String, prefix: String, allowNull: Bool)
        -> Result<(String, [SMTPParameter]), SMTPCommandError>
    {
        guard argument.uppercased().hasPrefix(prefix) else { return .failure(.syntax("expected \(prefix)<address>")) }
        let afterPrefix = argument.dropFirst(prefix.count).drop { $0 == " " }
        guard afterPrefix.first == "<" else { return .failure(.syntax("address must be in angle brackets")) }
        guard let close = closingBracket(in: afterPrefix) else { return .failure(.syntax("unterminated address")) }
        var path = afterPrefix[afterPrefix.index(after: afterPrefix.startIndex)..<close]
        // RFC 5321 4.1.2: a source route must be accepted and ignored.
        if path.first == "@" {
            guard let colon = path.firstIndex(of: ":") else { return .failure(.syntax("bad source route")) }
            path = path[path.index(after: colon)...]
        }
        guard path.utf8.count <= maxPathLength else { return .failure(.syntax("address too long")) }
        if path.isEmpty {
            guard allowNull else { return .failure(.syntax("empty recipient")) }
        } else if !isPlausibleAddress(path) {
            return .failure(.syntax("malformed address"))
        }
        let parameterText = afterPrefix[afterPrefix.index(after: close)...]
        guard parameterText.isEmpty || parameterText.first == " " else {
            return .failure(.syntax("garbage after address"))
        }
        var parameters: [SMTPParameter] = []
        for word in parameterText.split(separator: " ", omittingEmptySubsequences: true) {
            let pieces = word.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let keyword = pieces[0]
            guard !keyword.isEmpty, keyword.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                return .failure(.syntax("bad parameter"))
            }
            if pieces.count == 2, pieces[1].isEmpty { return .failure(.syntax("empty parameter value")) }
            parameters.append(SMTPParameter(String(keyword), pieces.count == 2 ? String(pieces[1]) : nil))
        }
        return .success((String(path), parameters))
    }

    /// The `>` that closes the path, skipping quoted local parts (`<"a>b"@example.com>`).
    static func closingBracket(in text: Substring) -> Substring.Index? {
        var inQuotes = false
        var escaped = false
        for index in text.indices.dropFirst() {
            let char = text[index]
            if escaped { escaped = false; continue }
            if inQuotes, char == "\\" { escaped = true; continue }
            if char == "\"" { inQuotes.toggle(); continue }
            if !inQuotes, char == ">" { return index }
            if !inQuotes, char == "<" { return nil }
        }
        return nil
    }

    /// Loose on purpose: the upstream is the authority on addresses; this only keeps out what
    /// would corrupt the command we send it (whitespace, brackets outside quotes).
    static func isPlausibleAddress(_ path: Substring) -> Bool {
        if path.uppercased() == "POSTMASTER" { return true }
        guard let at = path.lastIndex(of: "@") else { return false }
        let local = path[..<at]
        let domain = path[path.index(after: at)...]
        guard !local.isEmpty, !domain.isEmpty else { return false }
        if domain.contains(where: { $0 == " " || $0 == "<" || $0 == ">" || $0 == "\"" || $0 == "@" }) { return false }
        if local.first != "\"", local.contains(where: { $0 == " " || $0 == "<" || $0 == ">" }) { return false }
        return true
    }
}
