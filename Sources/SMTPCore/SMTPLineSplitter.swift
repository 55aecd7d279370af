import NIOCore

/// Takes lines off the front of a cumulation buffer with a hard length limit.
///
/// The reader index moves only past whole lines. A line longer than the limit is dropped as its
/// bytes arrive (so memory stays bounded) and reported once its end is seen, which lets the
/// session answer it in sequence without having buffered it.
public struct SMTPLineSplitter: Sendable {
    public enum Line: Sendable, Hashable {
        /// The line without CR LF (a bare LF ending is accepted for commands).
        case line(ByteBuffer)
        case tooLong
    }

    private var discarding = false

    public init() {}

    /// `maxLength` counts the line ending, as RFC 5321's limits do.
    public mutating func next(from buffer: inout ByteBuffer, maxLength: Int) -> Line? {
        let readable = buffer.readableBytes
        let newline = buffer.withUnsafeReadableBytes { $0.firstIndex(of: UInt8(ascii: "\n")) }
        guard let newline else {
            if discarding {
                buffer.moveReaderIndex(forwardBy: readable)
            } else if readable > maxLength {
                buffer.moveReaderIndex(forwardBy: readable)
                discarding = true
            }
            return nil
        }
        if discarding || newline + 1 > maxLength {
            buffer.moveReaderIndex(forwardBy: newline + 1)
            discarding = false
            return .tooLong
        }
        var length = newline
        if length > 0, buffer.getInteger(at: buffer.readerIndex + length - 1, as: UInt8.self) == UInt8(ascii: "\r") {
            length -= 1
        }
        // Slicing shares storage: no copy of the line.
        let line = buffer.getSlice(at: buffer.readerIndex, length: length) ?? ByteBuffer()
        buffer.moveReaderIndex(forwardBy: newline + 1)
        return .line(line)
    }
}
