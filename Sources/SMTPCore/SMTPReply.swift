import NIOCore

/// One SMTP reply: a three-digit code and one or more text lines.
///
/// The text lines keep the enhanced status code (RFC 3463) as their first word, exactly as it
/// travels on the wire, so an upstream reply is relayed verbatim.
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    public var lines: [String]

    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines.isEmpty ? [""] : lines
    }

    /// A reply of our own making: every line carries the enhanced status code.
    public init(_ code: Int, _ enhanced: String, _ text: String) {
        self.init(code: code, lines: ["\(enhanced) \(text)"])
    }

    public var isPositiveCompletion: Bool { (200..<300).contains(code) }
    public var isIntermediate: Bool { (300..<400).contains(code) }
    public var isTransientFailure: Bool { (400..<500).contains(code) }
    public var isPermanentFailure: Bool { (500..<600).contains(code) }

    /// The enhanced status code of the first line, if it has one whose class matches the reply's.
    public var enhancedStatus: String? {
        guard let first = lines.first else { return nil }
        // Split at the space scalar: as `Character`s, a space followed by a combining mark is
        // one grapheme that is not " ", and the word ran on into the text (found by fuzzing).
        let word = Substring(first.unicodeScalars.prefix { $0 != " " })
        return EnhancedStatusCode.isValid(word, forReplyCode: code) ? String(word) : nil
    }

    /// The reply with an enhanced status code on every line, adding the class default (x.0.0)
    /// where an upstream left it out, so our clients always get one.
    public func withEnhancedStatus() -> SMTPReply {
        if enhancedStatus != nil || !(200..<600).contains(code) || (300..<400).contains(code) {
            return self
        }
        let fallback = "\(code / 100).0.0"
        return SMTPReply(code: code, lines: lines.map { $0.isEmpty ? fallback : "\(fallback) \($0)" })
    }

    /// Text for logs: the first line only, with the code.
    public var description: String { "\(code) \(lines.first ?? "")" }

    /// Appends the wire form (`250-first\r\n250 last\r\n`). Control characters in the text are
    /// replaced so that a hostile upstream cannot inject extra reply lines to our client.
    public func write(into buffer: inout ByteBuffer) {
        let codeText = String(code)
        for (index, line) in lines.enumerated() {
            buffer.writeString(codeText)
            buffer.writeInteger(index == lines.count - 1 ? UInt8(ascii: " ") : UInt8(ascii: "-"))
            for byte in line.utf8 {
                buffer.writeInteger(byte < 0x20 || byte == 0x7F ? UInt8(ascii: " ") : byte)
            }
            buffer.writeStaticString("\r\n")
        }
    }

    public var wireBytes: ByteBuffer {
        var buffer = ByteBuffer()
        write(into: &buffer)
        return buffer
    }
}

public enum EnhancedStatusCode {
    /// `class.subject.detail` with class 2/4/5 matching the reply code's first digit,
    /// subject 1-3 digits, detail 1-3 digits (RFC 3463).
    public static func isValid(_ word: Substring, forReplyCode code: Int) -> Bool {
        let parts = word.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 1,
              let cls = Int(parts[0]), cls == code / 100, [2, 4, 5].contains(cls)
        else { return false }
        return parts[1...].allSatisfy { part in
            (1...3).contains(part.count) && part.allSatisfy { $0.isASCII && $0.isNumber }
        }
    }
}
