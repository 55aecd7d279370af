/// Assembles reply lines (`250-a`, `250 b`) into replies. Pure: the caller splits lines.
public struct SMTPReplyParser: Sendable {
    public enum ParseError: Error, Sendable, Hashable {
        case malformedLine
        case inconsistentCode
        case tooManyLines
    }

    /// A hostile upstream could otherwise grow one reply without bound.
    public var maxLines: Int
    private var code: Int?
    private var lines: [String] = []

    public init(maxLines: Int = 128) {
        self.maxLines = maxLines
    }

    public var isMidReply: Bool { code != nil }

    /// Feeds one line without its line ending; returns the reply when this was its last line.
    public mutating func feed(_ line: some Collection<UInt8>) throws(ParseError) -> SMTPReply? {
        let bytes = Array(line)
        guard bytes.count >= 3,
              bytes[0] >= UInt8(ascii: "2"), bytes[0] <= UInt8(ascii: "5"),
              bytes[1] >= UInt8(ascii: "0"), bytes[1] <= UInt8(ascii: "9"),
              bytes[2] >= UInt8(ascii: "0"), bytes[2] <= UInt8(ascii: "9")
        else { throw .malformedLine }
        let lineCode = Int(bytes[0] - 48) * 100 + Int(bytes[1] - 48) * 10 + Int(bytes[2] - 48)
        let isLast: Bool
        if bytes.count == 3 {
            isLast = true
        } else if bytes[3] == UInt8(ascii: " ") {
            isLast = true
        } else if bytes[3] == UInt8(ascii: "-") {
            isLast = false
        } else {
            throw .malformedLine
        }
        if let code, code != lineCode { throw .inconsistentCode }
        guard lines.count < maxLines else { throw .tooManyLines }
        code = lineCode
        lines.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
        guard isLast else { return nil }
        let reply = SMTPReply(code: lineCode, lines: lines)
        code = nil
        lines = []
        return reply
    }
}
