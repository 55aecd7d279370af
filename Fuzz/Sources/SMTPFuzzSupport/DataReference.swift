import FuzzSupport
import NIOCore
import SMTPCore

/// A deliberately naive model of a DATA body, to compare the streaming scanner with.
///
/// Only CR LF ends a line (RFC 5321 2.3.8); the body ends at the first `.` CR LF that starts
/// a line, the very first byte counting as a line start (the DATA command's CR LF precedes it).
public enum DataReference {
    /// Offsets where a line starts: 0 and every offset just after a CR LF.
    public static func isLineStart(_ bytes: [UInt8], _ offset: Int) -> Bool {
        offset == 0 || (offset >= 2 && bytes[offset - 2] == 0x0D && bytes[offset - 1] == 0x0A)
    }

    /// Offset of the terminator's `.`, or nil if `bytes` holds none.
    public static func terminator(in bytes: [UInt8]) -> Int? {
        var offset = 0
        while offset + 3 <= bytes.count {
            if bytes[offset] == UInt8(ascii: "."), bytes[offset + 1] == 0x0D, bytes[offset + 2] == 0x0A,
               isLineStart(bytes, offset) {
                return offset
            }
            offset += 1
        }
        return nil
    }

    /// Offsets of bare line endings in `bytes[0..<end]`: an LF without a CR before it, a CR
    /// without an LF after it. A CR that is the last byte known is not judged (nil `next`).
    public static func bareLineEndings(in bytes: [UInt8], end: Int) -> [Int] {
        var result: [Int] = []
        for offset in 0..<end {
            if bytes[offset] == 0x0A, offset == 0 || bytes[offset - 1] != 0x0D {
                result.append(offset)
            } else if bytes[offset] == 0x0D, offset + 1 < bytes.count, bytes[offset + 1] != 0x0A {
                result.append(offset)
            }
        }
        return result
    }

    /// Whether a line of `bytes[0..<end]`, counted with its CR LF, is longer than `maxLineLength`;
    /// the last line may be incomplete.
    public static func hasLongLine(_ bytes: [UInt8], end: Int, maxLineLength: Int) -> Bool {
        var lineStart = 0
        for offset in 0..<end where bytes[offset] == 0x0A && offset > 0 && bytes[offset - 1] == 0x0D {
            if offset + 1 - lineStart > maxLineLength { return true }
            lineStart = offset + 1
        }
        return end - lineStart > maxLineLength
    }

    /// RFC 5321 4.5.2 by the letter: a `.` that starts a line is removed.
    public static func unstuff(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for offset in bytes.indices where !(bytes[offset] == UInt8(ascii: ".") && isLineStart(bytes, offset)) {
            out.append(bytes[offset])
        }
        return out
    }
}

/// What a framer frame is, as far as the properties care.
public enum FrameKind {
    case command([UInt8])
    case commandTooLong
    case authResponse([UInt8])
    /// `.data`: body bytes that may be relayed upstream.
    case data([UInt8])
    /// `.dataAfterBareLineEnding`: body bytes that must not be relayed.
    case otherBody([UInt8])
    case endOfData(SMTPDataScanner.Summary)

    public init(_ frame: SMTPServerFrame) {
        switch frame {
        case .command(let bytes): self = .command(Array(bytes.readableBytesView))
        case .commandTooLong: self = .commandTooLong
        case .authResponse(let bytes): self = .authResponse(Array(bytes.readableBytesView))
        case .data(let bytes): self = .data(Array(bytes.readableBytesView))
        case .dataAfterBareLineEnding(let bytes): self = .otherBody(Array(bytes.readableBytesView))
        case .endOfData(let summary): self = .endOfData(summary)
        }
    }
}

/// The smuggling property (issue 13, item 1): no `.data` frame holds or follows a bare CR or
/// LF, with one exception, a known finding left to the framer's owner
/// (Tests/SMTPCoreTests/FuzzFindingsFramerTests.swift): a read that ends in CR is handed out
/// as `.data` with that CR before the next byte shows whether it is bare. Nothing after such a
/// CR is ever `.data`, so nothing can follow it upstream; the targets check that much.
///
/// `dataEnd`: where a `.data` frame ends in `body`; `firstBare`: the first bare line ending.
public func dataFrameIsClean(body: [UInt8], dataEnd: Int, firstBare: Int?) -> Bool {
    guard let firstBare else { return true }
    return dataEnd <= firstBare || (dataEnd == firstBare + 1 && body[firstBare] == 0x0D)
}
