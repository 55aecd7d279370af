/// A strict RFC 8259 parser for the accounts file.
///
/// Hand-rolled rather than `JSONSerialization`/`JSONDecoder` so that: booleans cannot sneak in
/// as numbers, duplicate keys are an error instead of last-one-wins (a duplicated
/// `"password"` would otherwise silently override the first), and syntax errors carry an
/// exact byte offset. Error messages never quote document content, because the bytes near a
/// syntax error are as likely as not to be a secret.
struct JSONParser {
    struct SyntaxError: Error, Sendable, Equatable {
        var offset: Int
        var message: String
    }

    /// Deep enough for any sane accounts file, shallow enough that a hostile file cannot
    /// overflow the stack through recursion.
    static let maxDepth = 64

    private let bytes: [UInt8]
    private var index: Int

    static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        return try parser.parseDocument()
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
        self.index = 0
    }

    private mutating func parseDocument() throws(SyntaxError) -> JSONValue {
        // Editors on Windows like to prepend a UTF-8 byte order mark; it carries no meaning.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        skipWhitespace()
        guard index < bytes.count else { throw SyntaxError(offset: index, message: "the document is empty") }
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard index == bytes.count else {
            throw SyntaxError(offset: index, message: "unexpected content after the end of the JSON value")
        }
        return value
    }

    private mutating func parseValue(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth < JSONParser.maxDepth else {
            throw SyntaxError(offset: index, message: "nesting deeper than \(JSONParser.maxDepth) levels")
        }
        guard let byte = peek() else { throw SyntaxError(offset: index, message: "unexpected end of input, expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw SyntaxError(offset: index, message: "unexpected character, expected a value")
        }
    }

    private mutating func parseObject(depth: Int) throws(SyntaxError) -> JSONValue {
        index += 1  // "{"
        var members: [JSONMember] = []
        var seenKeys: Set<String> = []
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else {
                throw SyntaxError(offset: index, message: "expected a string key")
            }
            let keyOffset = index
            let key = try parseString()
            // Keys are field names, not secrets, so naming the duplicate is safe and useful.
            guard seenKeys.insert(key).inserted else {
                throw SyntaxError(offset: keyOffset, message: "duplicate key \(quotedForMessage(key))")
            }
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw SyntaxError(offset: index, message: "expected ':' after key") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            members.append(JSONMember(key: key, value: value))
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return .object(members)
            case nil: throw SyntaxError(offset: index, message: "unexpected end of input inside an object")
            default: throw SyntaxError(offset: index, message: "expected ',' or '}' in object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(SyntaxError) -> JSONValue {
        index += 1  // "["
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(elements)
            case nil: throw SyntaxError(offset: index, message: "unexpected end of input inside an array")
            default: throw SyntaxError(offset: index, message: "expected ',' or ']' in array")
            }
        }
    }

    private mutating func parseString() throws(SyntaxError) -> String {
        let start = index
        index += 1  // opening quote
        var decoded: [UInt8] = []
        while true {
            guard let byte = peek() else {
                throw SyntaxError(offset: start, message: "unterminated string")
            }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let string = String(validating: decoded, as: UTF8.self) else {
                    throw SyntaxError(offset: start, message: "string is not valid UTF-8")
                }
                return string
            case UInt8(ascii: "\\"):
                try parseEscape(into: &decoded)
            case 0x00..<0x20:
                throw SyntaxError(offset: index, message: "unescaped control character in string")
            default:
                decoded.append(byte)
                index += 1
            }
        }
    }

    private mutating func parseEscape(into decoded: inout [UInt8]) throws(SyntaxError) {
        let escapeOffset = index
        index += 1  // backslash
        guard let byte = peek() else { throw SyntaxError(offset: escapeOffset, message: "unterminated escape sequence") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): decoded.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): decoded.append(UInt8(ascii: "\\"))
        case UInt8(ascii: "/"): decoded.append(UInt8(ascii: "/"))
        case UInt8(ascii: "b"): decoded.append(0x08)
        case UInt8(ascii: "f"): decoded.append(0x0C)
        case UInt8(ascii: "n"): decoded.append(0x0A)
        case UInt8(ascii: "r"): decoded.append(0x0D)
        case UInt8(ascii: "t"): decoded.append(0x09)
        case UInt8(ascii: "u"):
            let scalar = try parseUnicodeEscape(escapeOffset: escapeOffset)
            decoded.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            throw SyntaxError(offset: escapeOffset, message: "invalid escape sequence")
        }
    }

    /// Called with `index` just past `\u`; combines a surrogate pair when one follows.
    private mutating func parseUnicodeEscape(escapeOffset: Int) throws(SyntaxError) -> Unicode.Scalar {
        let first = try parseHex4(escapeOffset: escapeOffset)
        switch first {
        case 0xD800...0xDBFF:
            guard peek() == UInt8(ascii: "\\"), peek(at: index + 1) == UInt8(ascii: "u") else {
                throw SyntaxError(offset: escapeOffset, message: "unpaired UTF-16 surrogate in \\u escape")
            }
            index += 2
            let second = try parseHex4(escapeOffset: escapeOffset)
            guard (0xDC00...0xDFFF).contains(second) else {
                throw SyntaxError(offset: escapeOffset, message: "unpaired UTF-16 surrogate in \\u escape")
            }
            let combined = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            guard let scalar = Unicode.Scalar(combined) else {
                throw SyntaxError(offset: escapeOffset, message: "invalid \\u escape")
            }
            return scalar
        case 0xDC00...0xDFFF:
            throw SyntaxError(offset: escapeOffset, message: "unpaired UTF-16 surrogate in \\u escape")
        default:
            guard let scalar = Unicode.Scalar(first) else {
                throw SyntaxError(offset: escapeOffset, message: "invalid \\u escape")
            }
            return scalar
        }
    }

    private mutating func parseHex4(escapeOffset: Int) throws(SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = JSONParser.hexValue(byte) else {
                throw SyntaxError(offset: escapeOffset, message: "\\u escape needs four hex digits")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// Validates the RFC 8259 number grammar and returns the literal untouched; whether it is
    /// an acceptable integer is the field reader's business.
    private mutating func parseNumber() throws(SyntaxError) -> String {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let leading = peek(), isDigit(leading) else {
            throw SyntaxError(offset: start, message: "invalid number")
        }
        // RFC 8259 forbids leading zeros: "0587" is not a number.
        if leading == UInt8(ascii: "0") { index += 1 } else { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard isDigit(peek()) else { throw SyntaxError(offset: start, message: "invalid number") }
            skipDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard isDigit(peek()) else { throw SyntaxError(offset: start, message: "invalid number") }
            skipDigits()
        }
        // The grammar above only admits ASCII, so this decoding cannot lose anything.
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func expectLiteral(_ literal: String) throws(SyntaxError) {
        let start = index
        for byte in literal.utf8 {
            guard peek() == byte else { throw SyntaxError(offset: start, message: "unexpected character, expected a value") }
            index += 1
        }
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            index += 1
        }
    }

    private mutating func skipDigits() {
        while isDigit(peek()) { index += 1 }
    }

    private func isDigit(_ byte: UInt8?) -> Bool {
        guard let byte else { return false }
        return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private func peek() -> UInt8? {
        peek(at: index)
    }

    private func peek(at position: Int) -> UInt8? {
        position < bytes.count ? bytes[position] : nil
    }
}
