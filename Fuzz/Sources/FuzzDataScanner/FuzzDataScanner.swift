// The DATA body: dot-stuffing round trip, the streaming end-of-data scanner against a naive
// reference under arbitrary read splits, and the framer in DATA mode (what it hands out as
// `.data` never holds or follows a bare CR or LF, and never runs past the terminator).
//
// Input: control tape (first control byte: the line-length limit; the rest: read sizes),
// then the body as the client sends it after 354, terminator and anything after it included.
import FuzzSupport
import NIOCore
import SMTPCore
import SMTPFuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let limitByte = input.nextControl() ?? 0xFF
    // 3 is the shortest line that can be a terminator; most of the space goes to short limits,
    // where a long line is cheap to make.
    let maxLineLength = limitByte >= 0xF0 ? 1000 : 3 + Int(limitByte) % 64
    let body = input.payload
    let chunks = input.chunks(of: body)

    checkDotStuffing(body)
    checkScanner(body, chunks: chunks, maxLineLength: maxLineLength)
    checkFramer(body, chunks: chunks, maxLineLength: maxLineLength)
    return 0
}

/// unstuff(stuff(x)) == x (stuff ends the message with CR LF if it did not), stuffing never
/// makes a terminator early, and unstuff matches RFC 5321 4.5.2 on any input.
func checkDotStuffing(_ message: [UInt8]) {
    let stuffed = DotStuffing.stuff(message)
    let endsWithCRLF = message.count >= 2 && message[message.count - 2] == 0x0D && message.last == 0x0A
    let expected = endsWithCRLF ? message : message + [0x0D, 0x0A]
    let roundTrip = DotStuffing.unstuff(stuffed)
    fuzzCheck(roundTrip == expected, "unstuff(stuff(x)) != x: x=\(escaped(message)) stuffed=\(escaped(stuffed)) back=\(escaped(roundTrip))")
    let wire = stuffed + Array(".\r\n".utf8)
    let end = DataReference.terminator(in: wire)
    fuzzCheck(end == stuffed.count, "stuffed body ends early at \(String(describing: end)): \(escaped(stuffed))")

    let unstuffed = DotStuffing.unstuff(message)
    let reference = DataReference.unstuff(message)
    fuzzCheck(unstuffed == reference, "unstuff(\(escaped(message))) = \(escaped(unstuffed)), RFC 5321 says \(escaped(reference))")
}

/// Feeds the scanner read by read as the framer does (bytes it leaves are offered again with
/// the next read; after `.end` with body before it, the rest is scanned again) and compares the
/// end, the body size and both flags with the reference.
func checkScanner(_ body: [UInt8], chunks: [ArraySlice<UInt8>], maxLineLength: Int) {
    var scanner = SMTPDataScanner(maxLineLength: maxLineLength)
    var pending: [UInt8] = []
    var consumed = 0  // body bytes the scanner has released
    var foundEnd: Int?
    reads: for chunk in chunks {
        pending += chunk
        while true {
            let result = pending.withUnsafeBytes { scanner.scan($0) }
            switch result {
            case .body(let count):
                fuzzCheck(count >= 0 && count <= pending.count, "body count \(count) of \(pending.count)")
                consumed += count
                pending.removeFirst(count)
                // Only "." or ".\r" at a line start may wait for more input.
                fuzzCheck(pending.count <= 2 && (pending.isEmpty || pending[0] == UInt8(ascii: ".")),
                          "scanner holds back \(escaped(pending))")
                continue reads
            case .end(let bodyCount, let used):
                fuzzCheck(bodyCount >= 0 && used == bodyCount + 3 && used <= pending.count
                          && Array(pending[bodyCount..<used]) == Array(".\r\n".utf8),
                          "end(bodyCount: \(bodyCount), consumed: \(used)) in \(escaped(pending))")
                if bodyCount > 0 {
                    consumed += bodyCount
                    pending.removeFirst(bodyCount)
                    continue
                }
                foundEnd = consumed
                break reads
            }
        }
    }
    let expectedEnd = DataReference.terminator(in: body)
    fuzzCheck(foundEnd == expectedEnd, "scanner end \(String(describing: foundEnd)), reference \(String(describing: expectedEnd)) in \(escaped(body))")
    let summary = scanner.summary
    let end = expectedEnd ?? consumed
    fuzzCheck(summary.size == end, "summary size \(summary.size), expected \(end)")
    // A CR that is the last byte released is not judged yet by either side.
    let bare = !DataReference.bareLineEndings(in: expectedEnd == nil ? Array(body[0..<end]) : body, end: end).isEmpty
    fuzzCheck(summary.sawBareLineEnding == bare, "sawBareLineEnding \(summary.sawBareLineEnding), expected \(bare) in \(escaped(body[0..<end]))")
    let long = DataReference.hasLongLine(body, end: end, maxLineLength: maxLineLength)
    fuzzCheck(summary.sawLongLine == long, "sawLongLine \(summary.sawLongLine), expected \(long) (limit \(maxLineLength)) in \(escaped(body[0..<end]))")
}

/// The framer after `DATA` / 354: the body frames are the body, byte for byte, up to the
/// terminator; `.data` frames never hold or follow a bare line ending; the summary matches;
/// the first command after the terminator comes out whole.
func checkFramer(_ body: [UInt8], chunks: [ArraySlice<UInt8>], maxLineLength: Int) {
    var configuration = SMTPServerFramer.Configuration()
    configuration.maxDataLineLength = maxLineLength
    var framer = SMTPServerFramer(configuration: configuration)
    framer.append(ByteBuffer(string: "DATA\r\n"))
    guard case .command = framer.next() else { return fuzzCheck(false, "DATA not framed") }
    _ = framer.replyWritten(code: 354)

    let expectedEnd = DataReference.terminator(in: body)
    let bare = DataReference.bareLineEndings(in: body, end: expectedEnd ?? body.count)
    var handedOut = 0
    var summary: SMTPDataScanner.Summary?
    var nextChunk = 0
    reads: while nextChunk < chunks.count {
        framer.append(ByteBuffer(bytes: chunks[nextChunk]))
        nextChunk += 1
        while let frame = framer.next() {
            switch FrameKind(frame) {
            case .data(let bytes):
                fuzzCheck(Array(body[handedOut..<min(body.count, handedOut + bytes.count)]) == bytes,
                          "data frame at \(handedOut) is not the body: \(escaped(bytes))")
                fuzzCheck(dataFrameIsClean(body: body, dataEnd: handedOut + bytes.count, firstBare: bare.first),
                          ".data frame [\(handedOut), \(handedOut + bytes.count)) holds or follows the bare line ending at \(bare.first!) in \(escaped(body))")
                handedOut += bytes.count
            case .otherBody(let bytes):
                fuzzCheck(Array(body[handedOut..<min(body.count, handedOut + bytes.count)]) == bytes,
                          "body frame at \(handedOut) is not the body: \(escaped(bytes))")
                handedOut += bytes.count
            case .endOfData(let end):
                summary = end
                break reads
            default:
                fuzzCheck(false, "a command frame inside DATA: \(frame)")
            }
            fuzzCheck(expectedEnd == nil || handedOut <= expectedEnd!, "body frames ran past the terminator at \(expectedEnd!)")
        }
    }
    guard let expectedEnd else {
        fuzzCheck(summary == nil, "endOfData without a terminator in \(escaped(body))")
        return
    }
    guard let summary else { return fuzzCheck(false, "no endOfData for the terminator at \(expectedEnd) in \(escaped(body))") }
    fuzzCheck(handedOut == expectedEnd, "body frames hold \(handedOut) bytes, the body is \(expectedEnd)")
    fuzzCheck(summary.size == expectedEnd, "endOfData size \(summary.size), body \(expectedEnd)")
    fuzzCheck(summary.sawBareLineEnding == !bare.isEmpty, "endOfData sawBareLineEnding \(summary.sawBareLineEnding)")
    fuzzCheck(summary.sawLongLine == DataReference.hasLongLine(body, end: expectedEnd, maxLineLength: maxLineLength),
              "endOfData sawLongLine \(summary.sawLongLine)")
    fuzzCheck(framer.next() == nil, "a frame before the reply to the end of data")

    // What follows the terminator is commands again, not lost and not body.
    for chunk in chunks[nextChunk...] { framer.append(ByteBuffer(bytes: chunk)) }
    _ = framer.replyWritten(code: 250)
    let rest = Array(body[(expectedEnd + 3)...])
    guard let newline = rest.firstIndex(of: 0x0A), newline + 1 <= configuration.maxCommandLineLength else { return }
    var line = Array(rest[..<newline])
    if line.last == 0x0D { line.removeLast() }
    switch framer.next().map(FrameKind.init) {
    case .command(let bytes)?:
        fuzzCheck(bytes == line, "first command after the body: \(escaped(bytes)), sent \(escaped(line))")
    case let other:
        fuzzCheck(false, "after the body expected the command \(escaped(line)), got \(String(describing: other))")
    }
}

/// See runLibFuzzer: the entry point a debug build's `main` is linked to.
@_cdecl("FuzzDataScanner_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
