import NIOCore
import SMTPCore

/// The message every session sends, built once per run.
///
/// `message` is what a recipient sees: exactly the requested number of bytes (when that is at
/// least the header block, about 250 bytes), CRLF lines of at most 78 characters, with lines
/// that start with "." (one of them a lone ".") so the dot-stuffing of the sender and the
/// unstuffing of the receiver are exercised. `wire` is its dot-stuffed form ending in CRLF, ready
/// for the "." line; it is shared by every send (a ByteBuffer copy is a reference, not a copy of
/// the bytes).
public struct BenchMessage: Sendable {
    public let message: [UInt8]
    public let wire: ByteBuffer

    public init(size: Int, from: String) {
        message = Self.build(size: size, from: from)
        let stuffed = DotStuffing.stuff(message)
        var buffer = ByteBufferAllocator().buffer(capacity: stuffed.count)
        buffer.writeBytes(stuffed)
        wire = buffer
    }

    public var wireSize: Int { wire.readableBytes }

    static let maxLineLength = 78

    /// Builds the message: a fixed header block, then body lines until `size` bytes.
    public static func build(size: Int, from: String) -> [UInt8] {
        var headers = Self.headers(from: from, subjectPadding: 0)
        if size - headers.count == 1 {
            // A body line needs at least its CRLF: take the odd byte into the subject instead.
            headers = Self.headers(from: from, subjectPadding: 1)
        }
        guard size >= headers.count else {
            // Too small for the headers: as close as we can get, still whole CRLF lines.
            return minimal(size: size)
        }
        var out = headers
        out.reserveCapacity(size)
        var remaining = size - headers.count
        var index = 0
        while remaining > 0 {
            if remaining <= maxLineLength + 2 {
                appendLine(&out, content: text(index: index, length: remaining - 2))
                break
            }
            var line = bodyLine(index: index)
            if remaining - (line.count + 2) == 1 {
                // Never leave a single byte: it could not form a line.
                line.removeLast()
            }
            appendLine(&out, content: line)
            remaining -= line.count + 2
            index += 1
        }
        return out
    }

    private static func headers(from: String, subjectPadding: Int) -> [UInt8] {
        let sender = "From: <\(from)>".utf8.count <= maxLineLength ? from : "bench@example.com"
        let lines = [
            "From: <\(sender)>",
            "To: undisclosed-recipients:;",
            "Subject: xoauth2-proxy bench message" + String(repeating: "!", count: subjectPadding),
            "Date: Thu, 01 Jan 2026 00:00:00 +0000",
            "Message-ID: <bench-message@xoauth2-proxy.invalid>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii",
            "",
        ]
        var out: [UInt8] = []
        for line in lines { appendLine(&out, content: Array(line.utf8)) }
        return out
    }

    private static func minimal(size: Int) -> [UInt8] {
        var out: [UInt8] = []
        var remaining = max(size, 2)
        var index = 0
        while remaining > 0 {
            let length = min(maxLineLength, remaining - 2)
            let leftover = remaining - (length + 2)
            let adjusted = leftover == 1 ? length - 1 : length
            appendLine(&out, content: text(index: index, length: adjusted))
            remaining -= adjusted + 2
            index += 1
        }
        return out
    }

    /// Body line `index`: mostly text of 40...78 characters; every tenth line starts with ".",
    /// line 1 (and every 50th after it) is a lone ".", which would end DATA if not stuffed.
    static func bodyLine(index: Int) -> [UInt8] {
        if index % 50 == 1 { return [UInt8(ascii: ".")] }
        let length = 40 + (index * 7) % (maxLineLength - 40 + 1)
        if index % 10 == 3 {
            return [UInt8(ascii: ".")] + text(index: index, length: length - 1)
        }
        if index % 50 == 27 {
            return [UInt8(ascii: "."), UInt8(ascii: ".")] + text(index: index, length: length - 2)
        }
        return text(index: index, length: length)
    }

    private static let corpus = Array("The quick brown fox jumps over the lazy dog; 0123456789 pack my box with five dozen liquor jugs. ".utf8)

    /// Printable ASCII of exactly `length` bytes that does not start with "." or a space.
    static func text(index: Int, length: Int) -> [UInt8] {
        guard length > 0 else { return [] }
        var out: [UInt8] = []
        out.reserveCapacity(length)
        var position = (index * 13) % corpus.count
        while out.count < length {
            let byte = corpus[position]
            if out.isEmpty, byte == UInt8(ascii: " ") || byte == UInt8(ascii: ".") {
                out.append(UInt8(ascii: "x"))
            } else {
                out.append(byte)
            }
            position = (position + 1) % corpus.count
        }
        return out
    }

    private static func appendLine(_ out: inout [UInt8], content: [UInt8]) {
        out += content
        out.append(UInt8(ascii: "\r"))
        out.append(UInt8(ascii: "\n"))
    }
}
