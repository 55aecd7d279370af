import Testing
@testable import SMTPCore

/// The AUTH and STARTTLS rules of the server session, without sockets: on a listener that is
/// not loopback AUTH exists only after TLS; STARTTLS starts the session over (RFC 3207).
@Suite struct SMTPServerStateMachineTLSTests {
    typealias Action = SMTPServerStateMachine.Action

    private func machine(tls: SMTPServerStateMachine.TLS, authRequiresTLS: Bool) -> SMTPServerStateMachine {
        var configuration = SMTPServerStateMachine.Configuration()
        configuration.tls = tls
        configuration.authRequiresTLS = authRequiresTLS
        return SMTPServerStateMachine(configuration: configuration)
    }

    private func command(_ machine: inout SMTPServerStateMachine, _ line: String) -> Action {
        machine.command(SMTPCommandParser.parse(Array(line.utf8)))
    }

    private func reply(_ action: Action) -> SMTPReply? {
        switch action {
        case .reply(let reply), .resetTransaction(let reply): reply
        case .close(let reply): reply
        default: nil
        }
    }

    private func keywords(_ machine: inout SMTPServerStateMachine) -> [String] {
        guard let reply = reply(command(&machine, "EHLO client.example")), reply.code == 250 else { return [] }
        return Array(reply.lines.dropFirst())
    }

    private let plainLogin = "AUTH PLAIN " + SASL.encodeBase64("\0u@example.com\0pw")
    private let encryptionRequired = 538

    @Test func beforeTLSOnANonLoopbackListenerAuthIsNeitherOfferedNorChecked() {
        var session = machine(tls: .startTLS, authRequiresTLS: true)
        let offered = keywords(&session)
        #expect(offered.contains("STARTTLS"))
        #expect(!offered.contains { $0.hasPrefix("AUTH") }, "\(offered)")
        // Refused before the credentials are decoded, whatever the mechanism and form.
        for line in [plainLogin, "AUTH PLAIN", "AUTH LOGIN", "AUTH LOGIN " + SASL.encodeBase64("u@example.com")] {
            var fresh = machine(tls: .startTLS, authRequiresTLS: true)
            _ = keywords(&fresh)
            let answer = command(&fresh, line)
            #expect(reply(answer)?.code == encryptionRequired, "\(line)")
            #expect(reply(answer)?.enhancedStatus == "5.7.11", "\(line)")
        }
        #expect(reply(command(&session, "MAIL FROM:<u@example.com>"))?.code == 530)
    }

    @Test func aClientInsistingOnPlaintextAuthIsClosedLikeAnyBadCommandRun() {
        var session = machine(tls: .startTLS, authRequiresTLS: true)
        _ = keywords(&session)
        #expect(reply(command(&session, plainLogin))?.code == encryptionRequired)
        #expect(reply(command(&session, plainLogin))?.code == encryptionRequired)
        #expect(command(&session, plainLogin) == .close(SMTPReply(421, "4.7.0", "Too many errors, closing connection")))
    }

    @Test func startTLSStartsTheSessionOverAndThenOffersAuth() {
        var session = machine(tls: .startTLS, authRequiresTLS: true)
        #expect(reply(command(&session, "STARTTLS"))?.code == 503, "EHLO first")
        _ = keywords(&session)
        #expect(!session.isTLS)
        #expect(command(&session, "STARTTLS") == .reply(SMTPReply(220, "2.0.0", "Ready to start TLS")))
        #expect(session.isTLS)
        // RFC 3207 4.2: nothing from before TLS counts, the EHLO included.
        #expect(reply(command(&session, plainLogin))?.code == 503)
        #expect(reply(command(&session, "MAIL FROM:<u@example.com>"))?.code == 503)
        let offered = keywords(&session)
        #expect(offered.contains("AUTH PLAIN LOGIN"))
        #expect(!offered.contains("STARTTLS"))
        #expect(reply(command(&session, "STARTTLS"))?.code == 503, "TLS is already on")
        #expect(command(&session, plainLogin) == .verifyCredentials(.init(username: "u@example.com", password: "pw")))
        #expect(reply(session.authenticationResult(user: "u@example.com"))?.code == 235)
        #expect(command(&session, "MAIL FROM:<u@example.com>") == .startMail(from: "u@example.com", parameters: []))
    }

    @Test func onLoopbackNothingChanges() {
        var plain = machine(tls: .none, authRequiresTLS: false)
        #expect(keywords(&plain) == ["PIPELINING", "SIZE 36700160", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "AUTH PLAIN LOGIN"])
        #expect(command(&plain, "STARTTLS") == .reply(SMTPReply(502, "5.5.1", "STARTTLS not offered on this listener")))
        #expect(command(&plain, plainLogin) == .verifyCredentials(.init(username: "u@example.com", password: "pw")))

        // A certificate on a loopback listener offers STARTTLS, and AUTH stays available without it.
        var withCertificate = machine(tls: .startTLS, authRequiresTLS: false)
        #expect(keywords(&withCertificate).suffix(2) == ["STARTTLS", "AUTH PLAIN LOGIN"])
        #expect(command(&withCertificate, plainLogin) == .verifyCredentials(.init(username: "u@example.com", password: "pw")))
    }

    @Test func implicitTLSOffersAuthAndNoStartTLS() {
        var session = machine(tls: .implicit, authRequiresTLS: true)
        #expect(session.isTLS)
        let offered = keywords(&session)
        #expect(offered.contains("AUTH PLAIN LOGIN"))
        #expect(!offered.contains("STARTTLS"))
        #expect(reply(command(&session, "STARTTLS"))?.code == 503)
        #expect(command(&session, plainLogin) == .verifyCredentials(.init(username: "u@example.com", password: "pw")))
    }

    @Test func startTLSIsRefusedOnceLoggedInOrInATransaction() {
        var session = machine(tls: .startTLS, authRequiresTLS: false)
        _ = keywords(&session)
        _ = command(&session, plainLogin)
        _ = session.authenticationResult(user: "u@example.com")
        #expect(reply(command(&session, "STARTTLS"))?.code == 503)
        _ = command(&session, "MAIL FROM:<u@example.com>")
        #expect(reply(command(&session, "STARTTLS"))?.code == 503)
        #expect(!session.isTLS)
    }
}
