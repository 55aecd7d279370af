import Foundation
import Testing
@testable import SMTPCore

/// Inputs the fuzz targets in Fuzz/ found (scripts/fuzz), each a table row that failed before
/// its fix. The property each target checks is named above its table.
@Suite struct FuzzFindingsTests {
    /// FuzzCommandParser: a path the parser accepts is relayed upstream between `<` and `>`
    /// as it is, so it must read the same there: written back, it parses to the same command,
    /// and outside a quoted local part it holds no space, tab or angle bracket.
    static let refusedPaths: [(line: String, error: SMTPCommandError)] = [
        // A local part that starts with a quote was not checked at all.
        ("RCPT TO:<\"a\" b@example.com>", .syntax("malformed address")),
        ("MAIL FROM:<\"a\"b@example.com>", .syntax("malformed address")),
        ("MAIL FROM:<\"oooo\t\tmail from: <\"oooo\t\to2 bFc\"@example.com> SM\t\to2 bFc\"@example.com>", .syntax("malformed address")),
        // Tabs were allowed where spaces were not.
        ("MAIL FROM:<a\tb@example.com>", .syntax("malformed address")),
        ("RCPT TO:<a@exa\tmple.com>", .syntax("malformed address")),
        // What is left after a route that is no route was relayed as a route again.
        ("RCPT TO:<@relay.example[lcrao:@examlperol@ex=IN.org>", .syntax("bad source route")),
        ("RCPT TO:<@a.example:@b.example:c@example.org>", .syntax("bad source route")),
        // Quotes in the route left the relayed path's quotes unbalanced.
        ("RCPT TO:<@Subs\"trinample:car\"Decodlba@example.org>", .syntax("bad source route")),
    ]

    @Test(arguments: refusedPaths)
    func pathsThatWouldReadDifferentlyUpstreamAreRefused(line: String, error: SMTPCommandError) {
        #expect(SMTPCommandParser.parse(Array(line.utf8)) == .failure(error))
    }

    static let acceptedPaths: [(line: String, path: String)] = [
        ("RCPT TO:<\"a b\"@example.com>", "\"a b\"@example.com"),
        ("RCPT TO:<\"a\\\"> b\"@example.com>", "\"a\\\"> b\"@example.com"),
        ("RCPT TO:<\"tab\there\"@example.com>", "\"tab\there\"@example.com"),
        ("RCPT TO:<@a.example,@b.example:c@example.org>", "c@example.org"),
        ("RCPT TO:<@a.example:\"c d\"@example.org>", "\"c d\"@example.org"),
    ]

    @Test(arguments: acceptedPaths)
    func acceptedPathsReadTheSameWrittenBack(line: String, path: String) {
        #expect(SMTPCommandParser.parse(Array(line.utf8)) == .success(.rcpt(to: path, parameters: [])))
        #expect(SMTPCommandParser.parse(Array("RCPT TO:<\(path)>".utf8)) == .success(.rcpt(to: path, parameters: [])))
    }

    /// FuzzSASL: decodeXOAUTH2(xoauth2InitialResponse(user, token)) == (user, token). A
    /// combining mark after `user=` or `Bearer ` made one grapheme with the `=` or the space,
    /// and the prefix compared as `String` no longer matched.
    static let xoauth2: [(user: String, token: String)] = [
        ("\u{5B7}\u{FFFD}h", "\0\0\0\0\0\0\0N"),
        ("\0\u{FFFD}m", "\u{6E4}s"),
        ("a@example.com", "ya29.token"),
        ("é@example.com", "\u{301}token"),
    ]

    @Test(arguments: xoauth2)
    func xoauth2RoundTrips(user: String, token: String) {
        let decoded = SASL.decodeXOAUTH2(SASL.xoauth2InitialResponse(email: user, accessToken: token))
        #expect(decoded?.user == user)
        #expect(decoded?.token == token)
    }

    /// FuzzReplyParser: after withEnhancedStatus() every 2xx/4xx/5xx reply has an enhanced
    /// status code. The code was cut off the text at the first `Character` " ", and a space
    /// followed by a combining mark is no such character: the "word" ran on into the text, the
    /// code was not recognised, and a second one was put in front of it.
    static let enhancedStatus: [(reply: SMTPReply, status: String)] = [
        (SMTPReply(code: 420, lines: ["\u{5A2}\u{FFFD}ry again later"]).withEnhancedStatus(), "4.0.0"),
        (SMTPReply(code: 550, lines: ["5.1.1 \u{301}unknown user"]), "5.1.1"),
        (SMTPReply(code: 550, lines: ["5.1.1 \u{301}unknown user"]).withEnhancedStatus(), "5.1.1"),
        (SMTPReply(code: 250, lines: ["2.0.0 OK"]), "2.0.0"),
    ]

    @Test(arguments: enhancedStatus)
    func enhancedStatusIsTheFirstWord(reply: SMTPReply, status: String) {
        #expect(reply.enhancedStatus == status)
    }

    @Test func anEnhancedStatusIsNotAddedTwice() {
        let reply = SMTPReply(code: 550, lines: ["5.1.1 \u{301}unknown user"])
        #expect(reply.withEnhancedStatus() == reply)
    }

    @Test func xoauth2PrefixesAreCaseInsensitiveASCII() {
        let encoded = Data("USER=a@b.example\u{01}AUTH=bearer t\u{01}\u{01}".utf8).base64EncodedString()
        // `user=` is case-sensitive as before; `auth=Bearer ` is not.
        #expect(SASL.decodeXOAUTH2(encoded) == nil)
        let lower = Data("user=a@b.example\u{01}AUTH=bearer t\u{01}\u{01}".utf8).base64EncodedString()
        #expect(SASL.decodeXOAUTH2(lower)?.token == "t")
    }
}
