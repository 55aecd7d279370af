@testable import Relay
import SMTPCore
import Testing

/// The fake provider `--dry-run` relays to: permissive, but with a real server's sequence rules.
struct DryRunProviderTests {
    static func codes(_ lines: [String], provider: inout DryRunProvider) -> [Int] {
        lines.map { provider.reply(to: $0).reply.code }
    }

    @Test func acceptsATransactionAndDropsTheMessage() {
        var provider = DryRunProvider()
        #expect(Self.codes(["EHLO relay", "MAIL FROM:<a@example.com> SIZE=10", "RCPT TO:<b@example.net>", "RCPT TO:<c@example.net>", "DATA"],
                           provider: &provider) == [250, 250, 250, 250, 354])
        #expect(provider.endOfData() == SMTPReply(250, "2.0.0", "dry-run: not relayed"))
        // The transaction is over: the next one starts with MAIL, as on a real server.
        #expect(Self.codes(["RCPT TO:<b@example.net>", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.net>"],
                           provider: &provider) == [503, 250, 250])
    }

    @Test func offersWhatTheRelayUses() {
        var provider = DryRunProvider()
        let capabilities = EHLOCapabilities(ehloReply: provider.reply(to: "EHLO relay").reply)
        #expect(capabilities.pipelining)
        #expect(capabilities.maxMessageSize == 0)
        #expect(capabilities.eightBitMIME && capabilities.smtpUTF8)
        #expect(!capabilities.startTLS)
    }

    @Test(arguments: [
        (["DATA"], [554]),
        (["MAIL FROM:<a@example.com>", "DATA"], [250, 554]),
        (["MAIL FROM:<a@example.com>", "MAIL FROM:<a@example.com>"], [250, 503]),
        (["MAIL FROM:<a@example.com>", "RCPT TO:<b@example.net>", "RSET", "RCPT TO:<b@example.net>"], [250, 250, 250, 503]),
        (["NOOP", "noop", "VRFY someone", "BDAT 10 LAST"], [250, 250, 502, 502]),
    ])
    func keepsTheSequenceRules(lines: [String], expected: [Int]) {
        var provider = DryRunProvider()
        #expect(Self.codes(lines, provider: &provider) == expected)
    }

    @Test func quitEndsTheConnection() {
        var provider = DryRunProvider()
        let (reply, close) = provider.reply(to: "QUIT")
        #expect(reply.code == 221)
        #expect(close)
        #expect(provider.reply(to: "RSET").close == false)
    }
}
