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
        guard let first = lines.first, let end = EnhancedStatusCode.end(in: first, forReplyCode: code) else { return nil }
        return String(first[..<end])
    }

    /// The reply with an enhanced status code on every line, adding the class default (x.0.0)
    /// where an upstream left it out, so our clients always get one.
    public func withEnhancedStatus() -> SMTPReply {
        if !(200..<600).contains(code) || (300..<400).contains(code)
            || lines.first.map({ EnhancedStatusCode.end(in: $0, forReplyCode: code) != nil }) == true {
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
        for (index, line) in lines.enumerated() {
            if (100...999).contains(code) {
                // Three digits without formatting an Int as text: this runs for every reply.
                buffer.writeInteger(UInt8(ascii: "0") + UInt8(code / 100))
                buffer.writeInteger(UInt8(ascii: "0") + UInt8(code / 10 % 10))
                buffer.writeInteger(UInt8(ascii: "0") + UInt8(code % 10))
            } else {
                buffer.writeString(String(code))
            }
            buffer.writeInteger(index == lines.count - 1 ? UInt8(ascii: " ") : UInt8(ascii: "-"))
            var line = line
            line.withUTF8 { bytes in
                guard bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                    buffer.writeBytes(bytes)
                    return
                }
                for byte in bytes {
                    buffer.writeInteger(byte < 0x20 || byte == 0x7F ? UInt8(ascii: " ") : byte)
                }
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
        var word = word
        return word.withUTF8 { isValid($0, forReplyCode: code) }
    }

    /// Where the enhanced status code that starts `line` ends (its first word, up to the first
    /// space byte, which is the space scalar in UTF-8), or nil if that word is not one. Bytes,
    /// not characters: this runs for every reply relayed.
    static func end(in line: String, forReplyCode code: Int) -> String.Index? {
        let utf8 = line.utf8
        let end = utf8.firstIndex(of: UInt8(ascii: " ")) ?? utf8.endIndex
        var word = Substring(line[..<end])
        return word.withUTF8 { isValid($0, forReplyCode: code) } ? end : nil
    }

    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>, forReplyCode code: Int) -> Bool {
        let replyClass = code / 100
        guard bytes.count >= 5, replyClass == 2 || replyClass == 4 || replyClass == 5,
              bytes[0] == UInt8(ascii: "0") + UInt8(replyClass), bytes[1] == UInt8(ascii: ".") else { return false }
        var index = 2
        for part in 0..<2 {
            var digits = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                digits += 1
                index += 1
            }
            guard (1...3).contains(digits) else { return false }
            if part == 0 {
                guard index < bytes.count, bytes[index] == UInt8(ascii: ".") else { return false }
                index += 1
            }
        }
        return index == bytes.count
    }
}
