/// Finds the end of a DATA body (`CRLF . CRLF`) in a byte stream that arrives in pieces, and
/// checks it on the way: line length, size, bare CR / LF.
///
/// The body is relayed exactly as the client sent it (still dot-stuffed), so the message
/// arrives upstream byte-identical; this only decides where it ends. Only CR LF starts a new
/// line: treating a bare LF as a line end would let `LF . CR LF` end the message here but not
/// at a stricter upstream (SMTP smuggling).
public struct SMTPDataScanner: Sendable {
    public struct Summary: Sendable, Hashable {
        /// Octets of body as sent (dot-stuffed, with line endings), not counting the terminator.
        public var size: Int
        public var sawLongLine: Bool
        public var sawBareLineEnding: Bool

        public init(size: Int, sawLongLine: Bool, sawBareLineEnding: Bool) {
            self.size = size
            self.sawLongLine = sawLongLine
            self.sawBareLineEnding = sawBareLineEnding
        }
    }

    public enum Result: Sendable, Hashable {
        /// The first `count` bytes are body. Any bytes after them could begin the terminator and
        /// must be offered again with more data.
        case body(count: Int)
        /// The first `bodyCount` bytes are body and the terminator ends at `consumed`.
        case end(bodyCount: Int, consumed: Int)
    }

    private enum State: Sendable {
        case lineStart, inLine, sawCR, dot, dotCR
    }

    public let maxLineLength: Int
    private var state: State = .lineStart
    private var lineLength = 0
    public private(set) var summary = Summary(size: 0, sawLongLine: false, sawBareLineEnding: false)

    /// `maxLineLength` includes CR LF (RFC 5321 4.5.3.1.6: 1000).
    public init(maxLineLength: Int = 1000) {
        self.maxLineLength = maxLineLength
    }

    /// Index of the first CR or LF at or after `start`, or `bytes.count`.
    ///
    /// Sixteen bytes per step: both bytes are looked for in one pass, without the fixed cost of
    /// a library search per line (message lines are short, and this runs for every line relayed).
    @inline(__always)
    static func nextLineBreak(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        let count = bytes.count
        var index = start
        let cr = SIMD16<UInt8>(repeating: 0x0D)
        let lf = SIMD16<UInt8>(repeating: 0x0A)
        while index + 16 <= count {
            let block = bytes.loadUnaligned(fromByteOffset: index, as: SIMD16<UInt8>.self)
            let found = (block .== cr) .| (block .== lf)
            if any(found) {
                // The first matching lane: lanes as bytes 0xFF, the 16 bytes read as two
                // little-endian words (lane 0 the low byte of the first); reading lanes one by
                // one cost more than the search itself.
                let lanes = SIMD16<UInt8>(repeating: 0).replacing(with: 0xFF, where: found)
                let words = unsafeBitCast(lanes, to: SIMD2<UInt64>.self)
                let low = UInt64(littleEndian: words[0])
                let first = low != 0 ? low.trailingZeroBitCount : 64 + UInt64(littleEndian: words[1]).trailingZeroBitCount
                return index + first / 8
            }
            index += 16
        }
        while index < count {
            let byte = bytes[index]
            if byte == 0x0D || byte == 0x0A { return index }
            index += 1
        }
        return count
    }

    public mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Result {
        // Where the current line started, to rewind to when the input ends inside a possible terminator.
        var lineStartIndex = 0
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            switch state {
            case .lineStart:
                lineStartIndex = index
                lineLength = 0
                if byte == UInt8(ascii: ".") {
                    state = .dot
                } else {
                    state = byte == UInt8(ascii: "\r") ? .sawCR : .inLine
                    if byte == UInt8(ascii: "\n") { summary.sawBareLineEnding = true }
                }
            case .inLine:
                if byte == UInt8(ascii: "\r") {
                    state = .sawCR
                } else if byte == UInt8(ascii: "\n") {
                    summary.sawBareLineEnding = true
                } else {
                    // Most of a body is line content: jump to the next CR or LF in one search
                    // instead of one state transition per byte.
                    let end = Self.nextLineBreak(in: bytes, from: index + 1)
                    lineLength += end - index
                    index = end
                    // The usual case, CR LF and then an ordinary first byte, in one step rather
                    // than three state transitions: message lines are short.
                    if end + 2 < count, bytes[end] == UInt8(ascii: "\r"), bytes[end + 1] == UInt8(ascii: "\n") {
                        let next = bytes[end + 2]
                        if next != UInt8(ascii: "."), next != UInt8(ascii: "\r"), next != UInt8(ascii: "\n") {
                            if lineLength + 2 > maxLineLength { summary.sawLongLine = true }
                            lineStartIndex = end + 2
                            lineLength = 1
                            index = end + 3
                            continue
                        }
                    }
                    if lineLength > maxLineLength { summary.sawLongLine = true }
                    continue
                }
            case .sawCR:
                if byte == UInt8(ascii: "\n") {
                    lineLength += 1
                    if lineLength > maxLineLength { summary.sawLongLine = true }
                    state = .lineStart
                    index += 1
                    continue
                }
                summary.sawBareLineEnding = true
                state = byte == UInt8(ascii: "\r") ? .sawCR : .inLine
            case .dot:
                state = byte == UInt8(ascii: "\r") ? .dotCR : .inLine
                if byte == UInt8(ascii: "\n") { summary.sawBareLineEnding = true }
            case .dotCR:
                if byte == UInt8(ascii: "\n") {
                    summary.size += lineStartIndex
                    state = .lineStart
                    return .end(bodyCount: lineStartIndex, consumed: index + 1)
                }
                summary.sawBareLineEnding = true
                state = byte == UInt8(ascii: "\r") ? .sawCR : .inLine
            }
            lineLength += 1
            if lineLength > maxLineLength { summary.sawLongLine = true }
            index += 1
        }
        switch state {
        case .dot, .dotCR:
            // Hold back "." / ".\r" until we know whether it is the terminator.
            state = .lineStart
            summary.size += lineStartIndex
            return .body(count: lineStartIndex)
        default:
            summary.size += count
            return .body(count: count)
        }
    }
}
