import Foundation
import Logging
import NIOCore
import SMTPCore
import SMTPNIO

/// One connection to the sandbox provider: behaves like Gmail's submission port as far as the
/// relay can tell (STARTTLS required before AUTH, XOAUTH2 with tokens the sandbox issued, the
/// Gmail-style 334 JSON challenge on a bad token), plus the faults it is told to inject.
struct SandboxSMTPSession {
    struct Configuration: Sendable {
        var hostname = "sandbox.localhost"
        var requireTLS = true
        var maxMessageSize = 35 * 1024 * 1024
    }

    private enum AuthStep {
        case none
        /// AUTH XOAUTH2 without an initial response: the next line is it.
        case awaitingResponse
        /// The 334 error challenge went out; whatever comes next is answered 535.
        case awaitingErrorAcknowledgement
    }

    let configuration: Configuration
    let issuer: SandboxTokenIssuer
    let store: SandboxMailStore
    let faults: SandboxFaults
    let logger: Logger

    private var tls = false
    private var user: String?
    private var mailFrom: String?
    private var recipients: [String] = []
    private var body = ByteBuffer()
    private var oversize = false
    private var dropAfter: Int?
    private var received = 0
    private var authStep = AuthStep.none

    init(configuration: Configuration, issuer: SandboxTokenIssuer, store: SandboxMailStore, faults: SandboxFaults, logger: Logger) {
        self.configuration = configuration
        self.issuer = issuer
        self.store = store
        self.faults = faults
        self.logger = logger
    }

    enum Outcome {
        case reply(SMTPReply)
        case replyAndClose(SMTPReply)
        case nothing
        /// Drop the connection without a word (fault injection).
        case drop
    }

    mutating func run(_ connection: SMTPServerConnection) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(SMTPReply(220, "2.0.0", "\(configuration.hostname) ESMTP sandbox ready"))
                for try await frames in inbound {
                    var replies: [SMTPReply] = []
                    for frame in frames {
                        switch await handle(frame) {
                        case .reply(let reply):
                            replies.append(reply)
                        case .nothing:
                            break
                        case .replyAndClose(let reply):
                            try await outbound.write(contentsOf: replies + [reply])
                            return
                        case .drop:
                            return
                        }
                    }
                    if !replies.isEmpty { try await outbound.write(contentsOf: replies) }
                }
            }
        } catch {
            logger.debug("sandbox session ended", metadata: ["error": "\(error)"])
        }
    }

    private mutating func handle(_ frame: SMTPServerFrame) async -> Outcome {
        switch frame {
        case .command(let line):
            switch SMTPCommandParser.parse(line.readableBytesView) {
            case .success(let command):
                return await handle(command)
            case .failure(let error):
                return .reply(error.reply)
            }
        case .commandTooLong:
            return .reply(SMTPReply(500, "5.5.2", "Line too long"))
        case .authResponse(let line):
            return authResponse(String(buffer: line))
        case .data(var chunk), .dataAfterBareLineEnding(var chunk):
            received += chunk.readableBytes
            if let dropAfter, received >= dropAfter {
                faults.noteDataDrop()
                return .drop
            }
            if body.readableBytes + chunk.readableBytes > configuration.maxMessageSize {
                oversize = true
            } else if !oversize {
                body.writeBuffer(&chunk)
            }
            return .nothing
        case .endOfData:
            return await endOfData()
        }
    }

    private mutating func handle(_ command: SMTPCommand) async -> Outcome {
        switch command {
        case .ehlo(let domain):
            resetTransaction()
            var lines = ["\(configuration.hostname) at your service, \(domain)", "SIZE \(configuration.maxMessageSize)",
                         "8BITMIME", "ENHANCEDSTATUSCODES", "PIPELINING", "SMTPUTF8"]
            lines.append(tls || !configuration.requireTLS ? "AUTH XOAUTH2" : "STARTTLS")
            if let injected = await fault(.ehlo) { return injected }
            return .reply(SMTPReply(code: 250, lines: lines))
        case .helo:
            return .reply(SMTPReply(250, "2.0.0", configuration.hostname))
        case .starttls:
            guard !tls else { return .reply(SMTPReply(503, "5.5.1", "TLS already active")) }
            tls = true
            user = nil
            resetTransaction()
            return .reply(SMTPReply(220, "2.0.0", "Ready to start TLS"))
        case .auth(let mechanism, let initialResponse):
            if configuration.requireTLS, !tls { return .reply(SMTPReply(530, "5.7.0", "Must issue a STARTTLS command first")) }
            guard user == nil else { return .reply(SMTPReply(503, "5.5.1", "Already authenticated")) }
            guard mechanism == "XOAUTH2" else { return .reply(SMTPReply(504, "5.7.4", "Unrecognized authentication type")) }
            if let injected = await fault(.auth) { return injected }
            guard let initialResponse else {
                authStep = .awaitingResponse
                return .reply(SMTPReply(code: 334, lines: [""]))
            }
            return checkXOAUTH2(initialResponse)
        case .mail(let from, _):
            guard user != nil else { return .reply(SMTPReply(530, "5.7.0", "Authentication Required")) }
            guard mailFrom == nil else { return .reply(SMTPReply(503, "5.5.1", "Nested MAIL command")) }
            if let injected = await fault(.mail) { return injected }
            mailFrom = from
            return .reply(SMTPReply(250, "2.1.0", "OK"))
        case .rcpt(let to, _):
            guard mailFrom != nil else { return .reply(SMTPReply(503, "5.5.1", "need MAIL before RCPT")) }
            if let rejection = faults.recipientRejection(for: to) { return Self.injected(rejection) }
            if let injected = await fault(.rcpt) { return injected }
            recipients.append(to)
            return .reply(SMTPReply(250, "2.1.5", "OK"))
        case .data:
            guard faults.opensDataWithoutTransaction || (mailFrom != nil && !recipients.isEmpty) else {
                return .reply(SMTPReply(503, "5.5.1", "need RCPT command"))
            }
            if let injected = await fault(.data) { return injected }
            dropAfter = faults.takeDataDrop()
            received = 0
            return .reply(SMTPReply(code: 354, lines: ["Go ahead"]))
        case .rset:
            resetTransaction()
            return .reply(SMTPReply(250, "2.1.5", "Flushed"))
        case .noop:
            return .reply(SMTPReply(250, "2.0.0", "OK"))
        case .quit:
            return .replyAndClose(SMTPReply(221, "2.0.0", "closing connection"))
        case .help, .vrfy:
            return .reply(SMTPReply(502, "5.5.1", "Not implemented"))
        }
    }

    private mutating func authResponse(_ line: String) -> Outcome {
        switch authStep {
        case .awaitingResponse:
            authStep = .none
            return checkXOAUTH2(line)
        case .awaitingErrorAcknowledgement:
            authStep = .none
            return .reply(SMTPReply(535, "5.7.8", "Username and Password not accepted"))
        case .none:
            return .reply(SMTPReply(503, "5.5.1", "Bad sequence"))
        }
    }

    private mutating func checkXOAUTH2(_ response: String) -> Outcome {
        if let (claimedUser, token) = SASL.decodeXOAUTH2(response), issuer.validate(token: token, email: claimedUser) {
            user = claimedUser
            return .reply(SMTPReply(235, "2.7.0", "Accepted"))
        }
        // What Gmail sends for an expired or unknown token; the client must answer with an empty line.
        authStep = .awaitingErrorAcknowledgement
        let challenge = #"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#
        return .reply(SMTPReply(code: 334, lines: [SASL.encodeBase64(challenge)]))
    }

    private mutating func endOfData() async -> Outcome {
        defer { resetTransaction() }
        if let injected = await fault(.endOfData) { return injected }
        if oversize {
            return .reply(SMTPReply(552, "5.3.4", "Message too big"))
        }
        let message = store.add(authenticatedUser: user ?? "", mailFrom: mailFrom ?? "", recipients: recipients,
                                data: DotStuffing.unstuff(body.readableBytesView))
        // Stored but never acknowledged: the client must assume failure and send it again.
        if faults.takeDropAfterAccept() { return .drop }
        return .reply(SMTPReply(250, "2.0.0", "OK \(message.sequence) - sandbox"))
    }

    private func fault(_ step: SandboxStep) async -> Outcome? {
        if let delay = faults.delay(at: step) { try? await Task.sleep(for: delay) }
        switch faults.takeFault(at: step) {
        case .reply(let reply): return Self.injected(reply)
        case .drop: return .drop
        case nil: return nil
        }
    }

    /// A 421 means the server is closing the channel (RFC 5321 §3.8), so the sandbox does,
    /// as real servers do; a client must handle the reply and the close arriving together.
    private static func injected(_ reply: SMTPReply) -> Outcome {
        reply.code == 421 ? .replyAndClose(reply) : .reply(reply)
    }

    private mutating func resetTransaction() {
        mailFrom = nil
        recipients = []
        body.clear()
        oversize = false
        dropAfter = nil
        received = 0
    }
}
