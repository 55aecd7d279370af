import Testing
@testable import SMTPCore

@Suite struct SMTPCommandParserTests {
    static let valid: [(String, SMTPCommand)] = [
        ("EHLO client.example", .ehlo("client.example")),
        ("ehlo [127.0.0.1]", .ehlo("[127.0.0.1]")),
        ("HELO x", .helo("x")),
        ("MAIL FROM:<a@b.example>", .mail(from: "a@b.example", parameters: [])),
        ("mail from: <a@b.example> SIZE=100 BODY=8BITMIME", .mail(from: "a@b.example", parameters: [.init("SIZE", "100"), .init("BODY", "8BITMIME")])),
        ("MAIL FROM:<>", .mail(from: "", parameters: [])),
        ("MAIL FROM:<a@b.example> smtputf8", .mail(from: "a@b.example", parameters: [.init("SMTPUTF8")])),
        ("MAIL FROM:<@relay.example:a@b.example>", .mail(from: "a@b.example", parameters: [])),
        ("RCPT TO:<\"odd>local\"@b.example>", .rcpt(to: "\"odd>local\"@b.example", parameters: [])),
        ("RCPT TO:<Postmaster>", .rcpt(to: "Postmaster", parameters: [])),
        ("RCPT TO:<ü@bücher.example>", .rcpt(to: "ü@bücher.example", parameters: [])),
        ("DATA", .data), ("rset", .rset), ("NOOP anything", .noop), ("QUIT", .quit), ("HELP", .help),
        ("VRFY someone", .vrfy("someone")), ("STARTTLS", .starttls),
        ("AUTH PLAIN", .auth(mechanism: "PLAIN", initialResponse: nil)),
        ("auth login dXNlcg==", .auth(mechanism: "LOGIN", initialResponse: "dXNlcg==")),
        ("DATA  ", .data),
    ]

    @Test(arguments: valid)
    func parsesValidCommands(line: String, expected: SMTPCommand) {
        #expect(SMTPCommandParser.parse(Array(line.utf8)) == .success(expected))
    }

    static let invalid: [(String, SMTPCommandError)] = [
        ("FOO", .unrecognized),
        ("", .unrecognized),
        ("EHLO", .syntax("EHLO needs a domain")),
        ("MAIL TO:<a@b>", .syntax("expected FROM:<address>")),
        ("MAIL FROM:a@b", .syntax("address must be in angle brackets")),
        ("MAIL FROM:<a@b", .syntax("unterminated address")),
        ("MAIL FROM:<a b@c>", .syntax("malformed address")),
        ("MAIL FROM:<a@b>x", .syntax("garbage after address")),
        ("MAIL FROM:<a@b> SIZE=", .syntax("empty parameter value")),
        ("MAIL FROM:<a@b> S!ZE=1", .syntax("bad parameter")),
        ("RCPT TO:<>", .syntax("empty recipient")),
        ("RCPT TO:<nodomain>", .syntax("malformed address")),
        ("DATA now", .syntax("DATA takes no arguments")),
        ("AUTH", .syntax("AUTH mechanism [initial-response]")),
        ("AUTH PLAIN a b", .syntax("AUTH mechanism [initial-response]")),
        ("GET / HTTP/1.1", .httpRequest),
        ("POST /x HTTP/1.1", .httpRequest),
    ]

    @Test(arguments: invalid)
    func rejectsInvalidCommands(line: String, expected: SMTPCommandError) {
        #expect(SMTPCommandParser.parse(Array(line.utf8)) == .failure(expected))
    }

    @Test func rejectsControlCharactersAndBadUTF8() {
        #expect(SMTPCommandParser.parse([0x4D, 0x41, 0x49, 0x4C, 0x00]) == .failure(.syntax("control characters in command")))
        #expect(SMTPCommandParser.parse([0x45, 0x48, 0x4C, 0x4F, 0x20, 0xFF]) == .failure(.invalidEncoding))
    }

    @Test func rejectsOverlongPath() {
        let local = String(repeating: "a", count: 250)
        #expect(SMTPCommandParser.parse(Array("RCPT TO:<\(local)@example.com>".utf8)) == .failure(.syntax("address too long")))
    }

    @Test func verbNeverCarriesArguments() {
        #expect(SMTPCommand.auth(mechanism: "PLAIN", initialResponse: "c2VjcmV0").verb == "AUTH")
    }
}
