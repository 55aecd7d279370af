import Relay
import SMTPCore
import Testing

/// Every upstream reply the relay can meet, and what the client hears for it.
struct UpstreamReplyPolicyTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var upstream: SMTPReply
        var step: UpstreamStep
        var client: (code: Int, enhanced: String)
        var pushback: ProviderPushback?
        var closes: Bool
        var testDescription: String { "\(upstream) at \(step)" }
    }

    static let cases: [Case] = [
        // Successes pass through, gaining an enhanced status where the upstream gave none.
        Case(upstream: SMTPReply(250, "2.1.0", "OK"), step: .mail, client: (250, "2.1.0"), closes: false),
        Case(upstream: SMTPReply(code: 250, lines: ["OK"]), step: .rcpt, client: (250, "2.0.0"), closes: false),
        Case(upstream: SMTPReply(code: 354, lines: ["Go ahead"]), step: .data, client: (354, ""), closes: false),
        Case(upstream: SMTPReply(250, "2.0.0", "OK 1700000000 id - gsmtp"), step: .endOfData, client: (250, "2.0.0"), closes: false),
        // Quota spent: permanent at the provider, temporary to the app.
        Case(upstream: SMTPReply(550, "5.4.5", "Daily user sending limit exceeded."), step: .mail, client: (451, "4.4.5"), pushback: .quotaExhausted, closes: false),
        Case(upstream: SMTPReply(550, "5.4.5", "Daily user sending limit exceeded."), step: .endOfData, client: (451, "4.4.5"), pushback: .quotaExhausted, closes: false),
        Case(upstream: SMTPReply(554, "5.2.0", "STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message"),
             step: .endOfData, client: (451, "4.4.5"), pushback: .quotaExhausted, closes: false),
        Case(upstream: SMTPReply(554, "5.2.0", "STOREDRV.Submission.Exception:SubmissionQuotaExceededException"),
             step: .mail, client: (451, "4.4.5"), pushback: .quotaExhausted, closes: false),
        // Microsoft's per-mailbox connection limit.
        Case(upstream: SMTPReply(432, "4.3.2", "STOREDRV.ClientSubmit; sender thread limit exceeded"), step: .mail, client: (451, "4.3.2"), pushback: .connectionLimit, closes: true),
        Case(upstream: SMTPReply(432, "4.3.2", "STOREDRV.ClientSubmit; sender thread limit exceeded"), step: .auth, client: (451, "4.3.2"), pushback: .connectionLimit, closes: true),
        // Slow down: the client's session stays, the upstream's does not.
        Case(upstream: SMTPReply(421, "4.7.0", "Try again later, closing connection. (EHLO)"), step: .connect, client: (451, "4.7.0"), pushback: .slowDown, closes: true),
        Case(upstream: SMTPReply(421, "4.7.0", "Try again later, closing connection."), step: .mail, client: (451, "4.7.0"), pushback: .slowDown, closes: true),
        Case(upstream: SMTPReply(454, "4.7.0", "Too many login attempts, please try again later."), step: .auth, client: (454, "4.7.0"), pushback: .slowDown, closes: false),
        // Any other 421 becomes 451 so the app's session is not torn down.
        Case(upstream: SMTPReply(421, "4.4.2", "Connection dropped due to timeout"), step: .rcpt, client: (451, "4.4.2"), closes: true),
        Case(upstream: SMTPReply(code: 421, lines: ["Service not available"]), step: .endOfData, client: (451, "4.4.2"), closes: true),
        // Unknown 4xx pass through as 4xx; 5xx per recipient and per message pass through.
        Case(upstream: SMTPReply(451, "4.3.0", "Temporary server error"), step: .endOfData, client: (451, "4.3.0"), closes: false),
        Case(upstream: SMTPReply(code: 450, lines: ["Mailbox busy"]), step: .rcpt, client: (450, "4.0.0"), closes: false),
        Case(upstream: SMTPReply(452, "4.5.3", "Your message has too many recipients."), step: .rcpt, client: (452, "4.5.3"), closes: false),
        Case(upstream: SMTPReply(550, "5.1.1", "The email account that you tried to reach does not exist."), step: .rcpt, client: (550, "5.1.1"), closes: false),
        Case(upstream: SMTPReply(553, "5.7.1", "Sender address rejected: not owned by user"), step: .mail, client: (553, "5.7.1"), closes: false),
        Case(upstream: SMTPReply(552, "5.3.4", "Message size exceeds fixed maximum message size"), step: .endOfData, client: (552, "5.3.4"), closes: false),
        Case(upstream: SMTPReply(554, "5.7.0", "Message rejected as spam"), step: .data, client: (554, "5.7.0"), closes: false),
        // Being refused a session is never the message's fault.
        Case(upstream: SMTPReply(535, "5.7.8", "Username and Password not accepted."), step: .auth, client: (454, "4.7.0"), closes: true),
        Case(upstream: SMTPReply(554, "5.7.0", "No SMTP service here"), step: .connect, client: (451, "4.4.1"), closes: true),
        // Replies that make no sense at the step: the upstream state is unknown.
        Case(upstream: SMTPReply(code: 354, lines: ["Go ahead"]), step: .mail, client: (451, "4.5.0"), closes: true),
        Case(upstream: SMTPReply(250, "2.0.0", "OK"), step: .data, client: (451, "4.5.0"), closes: true),
        Case(upstream: SMTPReply(code: 199, lines: ["?"]), step: .rcpt, client: (451, "4.5.0"), closes: true),
        Case(upstream: SMTPReply(code: 600, lines: ["?"]), step: .endOfData, client: (451, "4.5.0"), closes: true),
    ]

    @Test(arguments: cases)
    func mapsUpstreamReply(_ example: Case) {
        let verdict = UpstreamReplyPolicy.verdict(for: example.upstream, at: example.step)
        #expect(verdict.clientReply.code == example.client.code)
        #expect((verdict.clientReply.enhancedStatus ?? "") == example.client.enhanced)
        #expect(verdict.pushback == example.pushback)
        #expect(verdict.closesConnection == example.closes)
    }

    @Test func clientNeverHears421() {
        for step in UpstreamStep.allCases {
            for upstream in [SMTPReply(421, "4.7.0", "x"), SMTPReply(421, "4.3.2", "x"), SMTPReply(code: 421, lines: [""])] {
                #expect(UpstreamReplyPolicy.verdict(for: upstream, at: step).clientReply.code != 421)
            }
        }
    }

    @Test func keepsTheProviderTextOf421() {
        let verdict = UpstreamReplyPolicy.verdict(for: SMTPReply(421, "4.7.0", "Try again later, closing connection."), at: .mail)
        #expect(verdict.clientReply.lines == ["4.7.0 Try again later, closing connection."])
    }

    @Test func quotaReplyNamesWhatTheProviderSaid() {
        let verdict = UpstreamReplyPolicy.verdict(for: SMTPReply(550, "5.4.5", "Daily user sending limit exceeded."), at: .mail)
        #expect(verdict.clientReply.lines[0].contains("550 5.4.5 Daily user sending limit exceeded."))
    }
}
