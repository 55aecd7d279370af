import Testing
@testable import SMTPCore

@Suite struct SMTPServerStateMachineTests {
    typealias Action = SMTPServerStateMachine.Action

    private func command(_ machine: inout SMTPServerStateMachine, _ line: String) -> Action {
        machine.command(SMTPCommandParser.parse(Array(line.utf8)))
    }

    private func code(_ action: Action) -> Int? {
        switch action {
        case .reply(let reply), .resetTransaction(let reply): reply.code
        case .close(let reply): reply?.code
        default: nil
        }
    }

    private func loggedIn() -> SMTPServerStateMachine {
        var machine = SMTPServerStateMachine()
        _ = command(&machine, "EHLO client")
        _ = command(&machine, "AUTH PLAIN " + SASL.encodeBase64("\0u@example.com\0pw"))
        _ = machine.authenticationResult(user: "u@example.com")
        return machine
    }

    /// Guessing with a NOOP between the guesses resets the bad-command count, not this one.
    @Test func theThirdFailedLoginClosesTheConnectionWhateverCameBetween() {
        var machine = SMTPServerStateMachine()
        _ = command(&machine, "EHLO client")
        for attempt in 1...3 {
            _ = command(&machine, "AUTH PLAIN " + SASL.encodeBase64("\0u@example.com\0guess-\(attempt)"))
            let verdict = machine.authenticationResult(user: nil)
            if attempt < 3 {
                #expect(verdict == .reply(SMTPReply(535, "5.7.8", "Authentication credentials invalid")))
                #expect(code(command(&machine, "NOOP")) == 250)
            } else {
                #expect(verdict == .close(SMTPReply(421, "4.7.0", "Too many failed logins, closing connection")))
            }
        }
        #expect(code(command(&machine, "NOOP")) != 250, "nothing after the close")
    }

    @Test func ehloAdvertisesWhatTheIssueAsksFor() {
        var machine = SMTPServerStateMachine()
        guard case .reply(let reply) = command(&machine, "EHLO client") else { Issue.record("no reply"); return }
        #expect(Array(reply.lines.dropFirst()) == ["PIPELINING", "SIZE 36700160", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "AUTH PLAIN LOGIN"])
    }

    @Test func sequencingErrors() {
        var machine = SMTPServerStateMachine()
        #expect(code(command(&machine, "MAIL FROM:<a@b.c>")) == 503)
        _ = command(&machine, "EHLO x")
        #expect(code(command(&machine, "MAIL FROM:<a@b.c>")) == 530)
        var ready = loggedIn()
        #expect(code(command(&ready, "RCPT TO:<a@b.c>")) == 503)
        #expect(code(command(&ready, "DATA")) == 503)
        _ = command(&ready, "NOOP")
        #expect(code(command(&ready, "AUTH PLAIN")) == 503)
    }

    @Test func plainWithContinuationAndLogin() {
        var machine = SMTPServerStateMachine()
        _ = command(&machine, "EHLO x")
        #expect(command(&machine, "AUTH PLAIN") == .reply(SMTPReply(code: 334, lines: [""])))
        #expect(machine.authResponse(SASL.encodeBase64("\0me@x.y\0secret")) == .verifyCredentials(.init(username: "me@x.y", password: "secret")))
        #expect(code(machine.authenticationResult(user: nil)) == 535)

        #expect(command(&machine, "AUTH LOGIN") == .reply(SMTPReply(code: 334, lines: [SASL.loginUsernameChallenge])))
        #expect(machine.authResponse(SASL.encodeBase64("me@x.y")) == .reply(SMTPReply(code: 334, lines: [SASL.loginPasswordChallenge])))
        #expect(machine.authResponse(SASL.encodeBase64("secret")) == .verifyCredentials(.init(username: "me@x.y", password: "secret")))
        #expect(code(machine.authenticationResult(user: "me@x.y")) == 235)
        #expect(machine.user == "me@x.y")
    }

    @Test func cancelledAndMalformedSASL() {
        var machine = SMTPServerStateMachine()
        _ = command(&machine, "EHLO x")
        _ = command(&machine, "AUTH LOGIN")
        #expect(code(machine.authResponse("*")) == 501)
        _ = command(&machine, "AUTH PLAIN")
        #expect(code(machine.authResponse("%%%")) == 501)
        #expect(code(command(&machine, "AUTH CRAM-MD5")) == 421)
    }

    @Test func threeBadCommandsInARowClose() {
        var machine = SMTPServerStateMachine()
        #expect(code(command(&machine, "BOGUS")) == 500)
        #expect(code(machine.commandTooLong()) == 500)
        #expect(code(command(&machine, "NOOP")) == 250)
        #expect(code(command(&machine, "BOGUS")) == 500)
        #expect(code(command(&machine, "BOGUS")) == 500)
        #expect(command(&machine, "BOGUS") == .close(SMTPReply(421, "4.7.0", "Too many errors, closing connection")))
    }

    @Test func httpRequestClosesSilently() {
        var machine = SMTPServerStateMachine()
        #expect(command(&machine, "GET / HTTP/1.1") == .close(nil))
    }

    @Test func transactionFlowWithUpstreamVerdicts() {
        var machine = loggedIn()
        #expect(command(&machine, "MAIL FROM:<a@b.c> SIZE=100 BODY=8BITMIME") == .startMail(from: "a@b.c", parameters: [.init("SIZE", "100"), .init("BODY", "8BITMIME")]))
        _ = machine.mailResult(SMTPReply(250, "2.1.0", "ok"))
        #expect(command(&machine, "RCPT TO:<x@y.z>") == .addRecipient(to: "x@y.z", parameters: []))
        #expect(machine.recipientResult(SMTPReply(code: 550, lines: ["no such user"])) == SMTPReply(code: 550, lines: ["5.0.0 no such user"]))
        #expect(code(command(&machine, "DATA")) == 554)
        _ = command(&machine, "RCPT TO:<x2@y.z>")
        _ = machine.recipientResult(SMTPReply(250, "2.1.5", "ok"))
        #expect(command(&machine, "DATA") == .startData)
        _ = machine.dataStartResult(SMTPReply(code: 354, lines: ["go"]))
        machine.transactionEnded()
        #expect(!machine.isInTransaction)
        #expect(command(&machine, "MAIL FROM:<>") == .startMail(from: "", parameters: []))
    }

    @Test func refusedMailMeansNoTransaction() {
        var machine = loggedIn()
        _ = command(&machine, "MAIL FROM:<a@b.c>")
        _ = machine.mailResult(SMTPReply(451, "4.4.1", "unreachable"))
        #expect(!machine.isInTransaction)
        #expect(code(command(&machine, "RCPT TO:<x@y.z>")) == 503)
    }

    /// A pipelining client sends MAIL, its RCPTs and DATA in one group; when MAIL is refused
    /// (an account limit, say) the rest are answered 503 as RFC 2920 expects, and that is not
    /// the client erring: it is not closed as one with too many bad commands.
    @Test func theRestOfAPipelinedGroupAfterARefusedMailIsNotCountedAsBad() {
        var machine = loggedIn()
        _ = command(&machine, "MAIL FROM:<a@b.c>")
        _ = machine.mailResult(SMTPReply(451, "4.7.1", "Account limit reached"))
        for index in 0..<5 {
            let action = command(&machine, "RCPT TO:<x\(index)@y.z>")
            #expect(code(action) == 503)
            if case .close = action { Issue.record("closed after \(index + 1) RCPTs") }
        }
        #expect(code(command(&machine, "DATA")) == 503)
        #expect(command(&machine, "MAIL FROM:<a@b.c>") == .startMail(from: "a@b.c", parameters: []))
    }

    @Test func limitsAndParameters() {
        var config = SMTPServerStateMachine.Configuration()
        config.maxRecipients = 2
        config.maxMessageSize = 1000
        var machine = SMTPServerStateMachine(configuration: config)
        _ = command(&machine, "EHLO x")
        _ = command(&machine, "AUTH PLAIN " + SASL.encodeBase64("\0u@example.com\0pw"))
        _ = machine.authenticationResult(user: "u@example.com")
        #expect(code(command(&machine, "MAIL FROM:<a@b.c> SIZE=1001")) == 552)
        #expect(code(command(&machine, "MAIL FROM:<a@b.c> RET=FULL")) == 555)
        _ = command(&machine, "MAIL FROM:<a@b.c> SIZE=1000")
        _ = command(&machine, "RCPT TO:<1@y.z>")
        _ = command(&machine, "RCPT TO:<2@y.z>")
        #expect(command(&machine, "RCPT TO:<3@y.z>") == .reply(SMTPReply(452, "4.5.3", "Too many recipients")))
        #expect(code(command(&machine, "RCPT TO:<4@y.z> NOTIFY=NEVER")) == 555)
    }

    @Test func lostUpstreamAnswers451UntilANewTransaction() {
        var machine = loggedIn()
        _ = command(&machine, "MAIL FROM:<a@b.c>")
        let lost = SMTPReply(451, "4.4.2", "Lost; start again")
        machine.abortTransaction(with: lost)
        #expect(command(&machine, "RCPT TO:<x@y.z>") == .reply(lost))
        #expect(command(&machine, "DATA") == .reply(lost))
        #expect(command(&machine, "MAIL FROM:<a@b.c>") == .startMail(from: "a@b.c", parameters: []))
    }

    @Test func rsetAndEhloAbandonATransaction() {
        var machine = loggedIn()
        _ = command(&machine, "MAIL FROM:<a@b.c>")
        #expect(command(&machine, "RSET") == .resetTransaction(SMTPReply(250, "2.0.0", "Reset OK")))
        _ = command(&machine, "MAIL FROM:<a@b.c>")
        guard case .resetTransaction = command(&machine, "EHLO again") else { Issue.record("EHLO must reset"); return }
        #expect(machine.user == "u@example.com")
    }

    /// The greeting names whatever its owner says; the protocol layer names no product.
    @Test func theGreetingTextComesFromTheConfiguration() {
        #expect(SMTPServerStateMachine().greeting.lines == ["2.0.0 localhost ESMTP ready"])
        var configuration = SMTPServerStateMachine.Configuration()
        configuration.hostname = "relay.example"
        configuration.greetingText = "ESMTP example ready"
        #expect(SMTPServerStateMachine(configuration: configuration).greeting.lines == ["2.0.0 relay.example ESMTP example ready"])
    }
}
