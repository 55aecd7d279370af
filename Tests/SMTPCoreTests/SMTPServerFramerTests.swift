import NIOCore
import Testing
@testable import SMTPCore

/// Drives a framer with input split into `chunk`-byte reads, answering each line with the
/// code `reply(line)` gives, as the session would.
func frames(_ input: String, chunk: Int, config: SMTPServerFramer.Configuration = .init(),
            reply: (SMTPServerFrame) -> Int? = { _ in 250 }) -> [String] {
    var framer = SMTPServerFramer(configuration: config)
    var out: [String] = []
    let bytes = Array(input.utf8)
    var index = 0
    var body = ""
    while index < bytes.count {
        let take = min(chunk, bytes.count - index)
        framer.append(ByteBuffer(bytes: bytes[index..<index + take]))
        index += take
        while let frame = framer.next() {
            switch frame {
            case .command(let line): out.append("cmd:" + String(buffer: line))
            case .commandTooLong: out.append("toolong")
            case .authResponse(let line): out.append("auth:" + String(buffer: line))
            case .data(let chunk): body += String(buffer: chunk)
            case .dataAfterBareLineEnding(let chunk): body += "[held:" + String(buffer: chunk) + "]"
            case .endOfData(let summary):
                out.append("body:" + body + "|size=\(summary.size)")
                body = ""
            }
            switch frame {
            case .data, .dataAfterBareLineEnding: continue
            default: break
            }
            if let code = reply(frame), framer.replyWritten(code: code) == .startTLS { out.append("tls") }
        }
    }
    return out
}

@Suite struct SMTPServerFramerTests {
    @Test(arguments: [1, 2, 5, 1000])
    func splitsPipelinedCommandsAndBody(chunk: Int) {
        let input = "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n..dot\r\n.\r\nQUIT\r\n"
        let result = frames(input, chunk: chunk) { frame in
            if case .command(let line) = frame, String(buffer: line) == "DATA" { return 354 }
            return 250
        }
        #expect(result == ["cmd:EHLO x", "cmd:MAIL FROM:<a@b>", "cmd:RCPT TO:<c@d>", "cmd:DATA",
                           "body:hi\r\n..dot\r\n|size=11", "cmd:QUIT"])
    }

    @Test(arguments: [1, 1000])
    func rejectedDataLeavesFollowingLinesAsCommands(chunk: Int) {
        let result = frames("DATA\r\nRSET\r\n", chunk: chunk) { _ in 554 }
        #expect(result == ["cmd:DATA", "cmd:RSET"])
    }

    @Test(arguments: [1, 3, 1000])
    func authContinuationsMayBeLong(chunk: Int) {
        let token = String(repeating: "A", count: 5000)
        let result = frames("AUTH PLAIN\r\n\(token)\r\nNOOP\r\n", chunk: chunk) { frame in
            if case .command(let line) = frame, String(buffer: line) == "AUTH PLAIN" { return 334 }
            return 235
        }
        #expect(result == ["cmd:AUTH PLAIN", "auth:\(token)", "cmd:NOOP"])
    }

    @Test(arguments: [1, 7, 1000])
    func overlongCommandIsDiscardedAndReportedInSequence(chunk: Int) {
        let long = String(repeating: "x", count: 600)
        #expect(frames("NOOP\r\n\(long)\r\nQUIT\r\n", chunk: chunk) == ["cmd:NOOP", "toolong", "cmd:QUIT"])
        // AUTH with an initial response gets the 12288 limit, other commands 512 (CRLF included).
        let auth = "AUTH PLAIN " + String(repeating: "A", count: 700)
        #expect(frames("\(auth)\r\n", chunk: chunk) { _ in 235 } == ["cmd:\(auth)"])
        #expect(frames(String(repeating: "n", count: 510) + "\r\n", chunk: chunk) == ["cmd:" + String(repeating: "n", count: 510)])
        #expect(frames(String(repeating: "n", count: 511) + "\r\n", chunk: chunk) == ["toolong"])
    }

    /// Bytes that arrived with STARTTLS (one read) were sent in plaintext and are dropped; in
    /// real use later reads come through TLS.
    @Test func plaintextPipelinedAfterStartTLSIsDropped() {
        let result = frames("STARTTLS\r\nMAIL FROM:<evil@x>\r\n", chunk: 1000) { _ in 220 }
        #expect(result == ["cmd:STARTTLS", "tls"])
        let refused = frames("STARTTLS\r\nNOOP\r\n", chunk: 1000) { _ in 454 }
        #expect(refused == ["cmd:STARTTLS", "cmd:NOOP"])
    }

    @Test func stopsReadingUntilTheReplyDecides() {
        var framer = SMTPServerFramer()
        framer.append(ByteBuffer(string: "DATA\r\nbody\r\n.\r\n"))
        #expect(framer.next() == .command(ByteBuffer(string: "DATA")))
        #expect(framer.isStopped)
        #expect(framer.next() == nil)
        _ = framer.replyWritten(code: 354)
        #expect(framer.next() == .data(ByteBuffer(string: "body\r\n")))
        guard case .endOfData = framer.next() else { Issue.record("expected end of data"); return }
        #expect(framer.isStopped)
    }

    /// Once a bare CR or LF was seen, nothing of that chunk or after it is handed out as
    /// forwardable body: a lenient provider would end the message there and read the rest as
    /// a second transaction (issue 13, item 1).
    @Test(arguments: [1, 2, 3, 7, 16, 64, 1000])
    func nothingAfterABareLineEndingIsForwardable(chunk: Int) {
        for smuggle in ["\n.\r\n", "\n.\n", "\r.\r", "\r\n.\n", "\n", "\r"] {
            let clean = "Subject: x\r\n\r\nhello"
            let body = clean + smuggle + "MAIL FROM:<e@x>\r\nRCPT TO:<extra@x>\r\nDATA\r\nsmuggled\r\n"
            var framer = SMTPServerFramer()
            framer.append(ByteBuffer(string: "DATA\r\n"))
            _ = framer.next()
            _ = framer.replyWritten(code: 354)
            var forwardable: [UInt8] = []
            var held: [UInt8] = []
            var summary: SMTPDataScanner.Summary?
            let bytes = Array((body + "\r\n.\r\n").utf8)
            var index = 0
            while index < bytes.count {
                let take = min(chunk, bytes.count - index)
                framer.append(ByteBuffer(bytes: bytes[index..<index + take]))
                index += take
                while let frame = framer.next() {
                    switch frame {
                    case .data(let part):
                        #expect(held.isEmpty, "forwardable body after held-back body (\(chunk)-byte reads, \(smuggle.debugDescription))")
                        forwardable += part.readableBytesView
                    case .dataAfterBareLineEnding(let part): held += part.readableBytesView
                    case .endOfData(let end): summary = end
                    default: Issue.record("unexpected \(frame)")
                    }
                }
            }
            #expect(summary?.sawBareLineEnding == true)
            #expect(forwardable + held == Array((body + "\r\n").utf8), "every byte is accounted for, in order")
            // What may go upstream stops at or before the first bare line ending (the bare
            // CR or LF itself may be the last byte of a read and already gone).
            let firstBare = firstBareLineEnding(Array(body.utf8))
            #expect(forwardable.count <= firstBare + 1, "forwarded \(forwardable.count) bytes, first bare ending at \(firstBare)")
        }
    }

    @Test func aCleanBodyIsAllForwardable() {
        let result = frames("DATA\r\nline one\r\n\r\n..two\r\n.\r\n", chunk: 3) { frame in
            if case .command = frame { return 354 }
            return 250
        }
        #expect(result == ["cmd:DATA", "body:line one\r\n\r\n..two\r\n|size=19"])
    }

    private func firstBareLineEnding(_ bytes: [UInt8]) -> Int {
        var index = 0
        while index < bytes.count {
            if bytes[index] == 13, index + 1 < bytes.count, bytes[index + 1] == 10 {
                index += 2
            } else if bytes[index] == 13 || bytes[index] == 10 {
                return index
            } else {
                index += 1
            }
        }
        return bytes.count
    }
}
