import NIOCore
import Testing
@testable import SMTPCore

@Suite struct SMTPReplyTests {
    @Test func encodesMultilineReplies() {
        let reply = SMTPReply(code: 250, lines: ["host greets you", "PIPELINING", "SIZE 10"])
        #expect(String(buffer: reply.wireBytes) == "250-host greets you\r\n250-PIPELINING\r\n250 SIZE 10\r\n")
    }

    @Test func neutralisesControlCharactersFromUpstream() {
        let reply = SMTPReply(code: 250, lines: ["2.0.0 ok\r\n250 injected"])
        #expect(String(buffer: reply.wireBytes) == "250 2.0.0 ok  250 injected\r\n")
    }

    @Test(arguments: [
        (SMTPReply(code: 250, lines: ["2.1.5 ok"]), "2.1.5"),
        (SMTPReply(code: 550, lines: ["5.1.1 no such user"]), "5.1.1"),
        (SMTPReply(code: 550, lines: ["4.1.1 class mismatch"]), nil),
        (SMTPReply(code: 250, lines: ["ok"]), nil),
        (SMTPReply(code: 451, lines: ["4.4.1234 bad detail"]), nil),
    ] as [(SMTPReply, String?)])
    func findsEnhancedStatus(reply: SMTPReply, expected: String?) {
        #expect(reply.enhancedStatus == expected)
    }

    @Test func addsClassDefaultEnhancedStatusWhereMissing() {
        #expect(SMTPReply(code: 550, lines: ["no such user", "really"]).withEnhancedStatus().lines == ["5.0.0 no such user", "5.0.0 really"])
        #expect(SMTPReply(code: 250, lines: ["2.1.0 ok"]).withEnhancedStatus().lines == ["2.1.0 ok"])
        #expect(SMTPReply(code: 354, lines: ["go ahead"]).withEnhancedStatus().lines == ["go ahead"])
    }

    @Test func parsesMultilineReplies() throws {
        var parser = SMTPReplyParser()
        #expect(try parser.feed(Array("250-smtp.example at your service".utf8)) == nil)
        #expect(parser.isMidReply)
        #expect(try parser.feed(Array("250-PIPELINING".utf8)) == nil)
        let reply = try parser.feed(Array("250 SMTPUTF8".utf8))
        #expect(reply == SMTPReply(code: 250, lines: ["smtp.example at your service", "PIPELINING", "SMTPUTF8"]))
        #expect(!parser.isMidReply)
        #expect(try parser.feed(Array("354".utf8)) == SMTPReply(code: 354, lines: [""]))
    }

    @Test(arguments: ["25", "abc ok", "250_ok", "650 ok", "2x0 ok"])
    func rejectsMalformedReplyLines(line: String) {
        var parser = SMTPReplyParser()
        #expect(throws: SMTPReplyParser.ParseError.malformedLine) { try parser.feed(Array(line.utf8)) }
    }

    @Test func rejectsInconsistentCodesAndEndlessReplies() throws {
        var parser = SMTPReplyParser()
        _ = try parser.feed(Array("250-a".utf8))
        #expect(throws: SMTPReplyParser.ParseError.inconsistentCode) { try parser.feed(Array("251 b".utf8)) }
        var bounded = SMTPReplyParser(maxLines: 3)
        for _ in 0..<3 { _ = try bounded.feed(Array("250-x".utf8)) }
        #expect(throws: SMTPReplyParser.ParseError.tooManyLines) { try bounded.feed(Array("250-x".utf8)) }
    }

    @Test func readsEHLOCapabilities() {
        let caps = EHLOCapabilities(ehloReply: SMTPReply(code: 250, lines: [
            "smtp.gmail.com at your service", "SIZE 35882577", "8BITMIME", "STARTTLS",
            "AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH", "ENHANCEDSTATUSCODES", "PIPELINING", "SMTPUTF8",
        ]))
        #expect(caps.pipelining && caps.startTLS && caps.eightBitMIME && caps.smtpUTF8)
        #expect(caps.maxMessageSize == 35882577)
        #expect(caps.authMechanisms.contains("XOAUTH2"))
        #expect(!EHLOCapabilities(ehloReply: SMTPReply(code: 250, lines: ["only greeting"])).pipelining)
    }
}
