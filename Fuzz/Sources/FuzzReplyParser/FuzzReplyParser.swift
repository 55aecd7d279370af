// The reply parser on whatever an upstream sends, split into lines as the client handler
// splits them. Properties: replies are well formed and bounded; written back to our client
// they are exactly their lines (no injected line) and parse to the same reply; a reply of
// ours always carries an enhanced status code after withEnhancedStatus().
import FuzzSupport
import SMTPCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(start, count, maxControl: 1)
    let maxLines = input.nextControl().map { 1 + Int($0) % 8 } ?? 128
    var parser = SMTPReplyParser(maxLines: maxLines)
    var lines = input.payload.split(separator: 0x0A, omittingEmptySubsequences: false)
    if lines.last?.isEmpty == true { lines.removeLast() }
    for var line in lines {
        if line.last == 0x0D { line.removeLast() }
        do {
            guard let reply = try parser.feed(line) else { continue }
            check(reply, maxLines: maxLines)
        } catch {
            // The client handler drops the connection on a malformed reply; start afresh.
            parser = SMTPReplyParser(maxLines: maxLines)
        }
    }
    return 0
}

func check(_ reply: SMTPReply, maxLines: Int) {
    fuzzCheck((200..<600).contains(reply.code), "code \(reply.code)")
    fuzzCheck(!reply.lines.isEmpty && reply.lines.count <= maxLines, "\(reply.lines.count) lines, at most \(maxLines)")

    let wire = Array(reply.wireBytes.readableBytesView)
    var wireLines = wire.split(separator: 0x0A, omittingEmptySubsequences: false)
    fuzzCheck(wireLines.last?.isEmpty == true, "wire form does not end in LF")
    wireLines.removeLast()
    fuzzCheck(wireLines.count == reply.lines.count, "\(reply.lines.count) lines written as \(wireLines.count): \(escaped(wire))")
    var again = SMTPReplyParser(maxLines: maxLines)
    var reparsed: SMTPReply?
    for (index, var line) in wireLines.enumerated() {
        fuzzCheck(line.last == 0x0D, "written line without CR LF")
        line.removeLast()
        fuzzCheck(line.allSatisfy { $0 >= 0x20 && $0 != 0x7F || $0 >= 0x80 }, "control character written: \(escaped(line))")
        do {
            reparsed = try again.feed(line)
            fuzzCheck((reparsed != nil) == (index == wireLines.count - 1), "reply ended at line \(index) of \(wireLines.count)")
        } catch {
            fuzzCheck(false, "our own wire form does not parse: \(error) in \(escaped(wire))")
        }
    }
    let sanitized = reply.lines.map { line in
        String(decoding: line.utf8.map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }
    fuzzCheck(reparsed == SMTPReply(code: reply.code, lines: sanitized), "written and parsed again: \(String(describing: reparsed)), was \(reply)")

    let enhanced = reply.withEnhancedStatus()
    fuzzCheck(enhanced.code == reply.code && enhanced.lines.count == reply.lines.count, "withEnhancedStatus changed the shape")
    if reply.code / 100 != 3 {
        fuzzCheck(enhanced.enhancedStatus != nil, "no enhanced status after withEnhancedStatus: \(enhanced)")
    }
}

/// See runLibFuzzer: the entry point a debug build's `main` is linked to.
@_cdecl("FuzzReplyParser_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
