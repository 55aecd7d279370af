/// Parses one command line (without its CRLF). Pure; the caller enforces line length.
///
/// It works on UTF-8 bytes: every character it looks for is ASCII, so there is no need to
/// walk `Character`s (grapheme breaking) or upper-case whole arguments.
public enum SMTPCommandParser {
    /// RFC 5321 4.5.3.1.3: a path is at most 256 octets.
    public static let maxPathLength = 256

    private static let space = UInt8(ascii: " ")
    private static let tab = UInt8(ascii: "\t")

    public static func parse(_ bytes: some Collection<UInt8>) -> Result<SMTPCommand, SMTPCommandError> {
        let line = Array(bytes)
        var ascii = true
        for byte in line {
            if byte < 0x20 && byte != UInt8(ascii: "\t") || byte == 0x7F {
                return .failure(.syntax("control characters in command"))
            }
            if byte >= 0x80 { ascii = false }
        }
        if !ascii, String(validating: line, as: UTF8.self) == nil { return .failure(.invalidEncoding) }
        return parse(utf8: line[...])
    }

    public static func parse(_ line: String) -> Result<SMTPCommand, SMTPCommandError> {
        parse(utf8: Array(line.utf8)[...])
    }

    private static func parse(utf8 line: ArraySlice<UInt8>) -> Result<SMTPCommand, SMTPCommandError> {
        let verbEnd = line.firstIndex(of: space) ?? line.endIndex
        let verb = upperASCII(line[line.startIndex..<verbEnd])
        let arg = trimmingSpaces(line[verbEnd...])

        switch verb {
        case "EHLO", "HELO":
            guard !arg.isEmpty, !arg.contains(space) else { return .failure(.syntax("\(verb) needs a domain")) }
            let domain = string(arg)
            return .success(verb == "EHLO" ? .ehlo(domain) : .helo(domain))
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
            return .success(.vrfy(string(arg)))
        case "AUTH":
            let words = arg.split(separator: space, omittingEmptySubsequences: true)
            guard (1...2).contains(words.count) else { return .failure(.syntax("AUTH mechanism [initial-response]")) }
            return .success(.auth(mechanism: upperASCII(words[0]), initialResponse: words.count == 2 ? string(words[1]) : nil))
        case "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH":
            return .failure(.httpRequest)
        default:
            return .failure(.unrecognized)
        }
    }

    /// `FROM:<path> params`, tolerating a space after the colon as many clients send one.
    static func parsePath(_ argument: ArraySlice<UInt8>, prefix: String, allowNull: Bool)
        -> Result<(String, [SMTPParameter]), SMTPCommandError>
    {
        let prefixBytes = Array(prefix.utf8)
        guard argument.count >= prefixBytes.count,
              upperASCII(argument.prefix(prefixBytes.count)) == prefix
        else { return .failure(.syntax("expected \(prefix)<address>")) }
        var open = argument.startIndex + prefixBytes.count
        while open < argument.endIndex, argument[open] == space { open += 1 }
        guard open < argument.endIndex, argument[open] == UInt8(ascii: "<") else {
            return .failure(.syntax("address must be in angle brackets"))
        }
        guard let close = closingBracket(in: argument, from: open) else { return .failure(.syntax("unterminated address")) }
        var path = argument[(open + 1)..<close]
        // RFC 5321 4.1.2: a source route must be accepted and ignored.
        if path.first == UInt8(ascii: "@") {
            // A route is domains only. A quote in it would leave the quotes of what is relayed
            // unbalanced (the bracket was found with the route's quotes counted), and `@a:@b:c@d`
            // is no route (hops are comma-separated): what is left would go upstream as a route
            // again. Both found by fuzzing (Tests/SMTPCoreTests/FuzzFindingsTests.swift).
            guard let colon = path.firstIndex(of: UInt8(ascii: ":")),
                  !path[..<colon].contains(UInt8(ascii: "\""))
            else { return .failure(.syntax("bad source route")) }
            path = path[(colon + 1)...]
            guard path.first != UInt8(ascii: "@") else { return .failure(.syntax("bad source route")) }
        }
        guard path.count <= maxPathLength else { return .failure(.syntax("address too long")) }
        if path.isEmpty {
            guard allowNull else { return .failure(.syntax("empty recipient")) }
        } else if !isPlausibleAddress(path) {
            return .failure(.syntax("malformed address"))
        }
        let parameterText = argument[(close + 1)...]
        guard parameterText.isEmpty || parameterText.first == space else {
            return .failure(.syntax("garbage after address"))
        }
        var parameters: [SMTPParameter] = []
        for word in parameterText.split(separator: space, omittingEmptySubsequences: true) {
            let equals = word.firstIndex(of: UInt8(ascii: "="))
            let keyword = word[word.startIndex..<(equals ?? word.endIndex)]
            guard !keyword.isEmpty, keyword.allSatisfy(isKeywordByte) else { return .failure(.syntax("bad parameter")) }
            var value: String?
            if let equals {
                let valueBytes = word[(equals + 1)...]
                guard !valueBytes.isEmpty else { return .failure(.syntax("empty parameter value")) }
                value = string(valueBytes)
            }
            parameters.append(SMTPParameter(upperASCII(keyword), value))
        }
        return .success((string(path), parameters))
    }

    /// The `>` that closes the path opened at `open`, skipping quoted local parts (`<"a>b"@example.com>`).
    static func closingBracket(in text: ArraySlice<UInt8>, from open: Int) -> Int? {
        var inQuotes = false
        var escaped = false
        var index = open + 1
        while index < text.endIndex {
            let byte = text[index]
            defer { index += 1 }
            if escaped { escaped = false; continue }
            if inQuotes, byte == UInt8(ascii: "\\") { escaped = true; continue }
            if byte == UInt8(ascii: "\"") { inQuotes.toggle(); continue }
            if !inQuotes, byte == UInt8(ascii: ">") { return index }
            if !inQuotes, byte == UInt8(ascii: "<") { return nil }
        }
        return nil
    }

    /// Loose on purpose: the upstream is the authority on addresses; this only keeps out what
    /// would corrupt the command we send it (whitespace, brackets outside quotes).
    static func isPlausibleAddress(_ path: ArraySlice<UInt8>) -> Bool {
        if equalsIgnoringASCIICase(path, "POSTMASTER") { return true }
        guard let at = path.lastIndex(of: UInt8(ascii: "@")) else { return false }
        let local = path[path.startIndex..<at]
        let domain = path[(at + 1)...]
        guard !local.isEmpty, !domain.isEmpty else { return false }
        if domain.contains(where: isForbiddenInDomain) { return false }
        if local.first == UInt8(ascii: "\"") { return isQuotedString(local) }
        return !local.contains(where: { $0 == space || $0 == tab || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") })
    }

    /// RFC 5321 Quoted-string: the whole local part is one `"…"` (backslash escapes inside).
    /// Checking only the first byte let `"a" b@example.com` through, a space outside the
    /// quotes (found by fuzzing, Tests/SMTPCoreTests/FuzzFindingsTests.swift).
    static func isQuotedString(_ local: ArraySlice<UInt8>) -> Bool {
        var index = local.startIndex + 1
        while index < local.endIndex {
            switch local[index] {
            case UInt8(ascii: "\\"):
                index += 2
            case UInt8(ascii: "\""):
                return index == local.endIndex - 1
            default:
                index += 1
            }
        }
        return false
    }

    private static func isForbiddenInDomain(_ byte: UInt8) -> Bool {
        byte == space || byte == tab || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "\"")
            || byte == UInt8(ascii: "@")
    }

    /// `bytes` equal to the upper-case ASCII `upper`, letters compared without case.
    private static func equalsIgnoringASCIICase(_ bytes: ArraySlice<UInt8>, _ upper: StaticString) -> Bool {
        guard bytes.count == upper.utf8CodeUnitCount else { return false }
        return upper.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { byte, want in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 32 : byte) == want
            }
        }
    }

    private static func isKeywordByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
    }

    private static func trimmingSpaces(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, bytes[start] == space { start += 1 }
        while end > start, bytes[end - 1] == space { end -= 1 }
        return bytes[start..<end]
    }

    /// ASCII letters upper-cased; other bytes (UTF-8 included) kept as they are.
    private static func upperASCII(_ bytes: ArraySlice<UInt8>) -> String {
        var upper = Array(bytes)
        for index in upper.indices where upper[index] >= UInt8(ascii: "a") && upper[index] <= UInt8(ascii: "z") {
            upper[index] -= 32
        }
        return String(decoding: upper, as: UTF8.self)
    }

    private static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
