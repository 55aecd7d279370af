/// The server side of one SMTP session as a pure state machine: one method per event, each
/// returning what the connection must do. It owns sequencing (EHLO, AUTH, MAIL, RCPT, DATA),
/// the SASL exchange, recipient counting and the bad-command limit; the relay performs the
/// actions and reports upstream verdicts back.
public struct SMTPServerStateMachine: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var hostname = "localhost"
        /// After the hostname in the 220 greeting.
        public var greetingText = "ESMTP ready"
        public var maxMessageSize = 35 * 1024 * 1024
        public var maxRecipients = 100
        /// chasquid's rule: this many failed commands in a row end the session with 421.
        public var maxBadCommandsInARow = 3
        /// Failed logins on one connection before it is closed with 421, whatever came between
        /// them: a NOOP after each guess must not buy another three.
        public var maxAuthenticationFailures = 3
        /// What TLS the listener gives this connection.
        public var tls: TLS = .none
        /// AUTH only over TLS (a listener that is not loopback): before TLS it is not
        /// advertised and is refused with 538 5.7.11 without looking at the credentials.
        public var authRequiresTLS = false
        public init() {}
    }

    public enum TLS: Sendable, Hashable {
        /// Plaintext only: STARTTLS is answered 502.
        case none
        /// STARTTLS is offered until it has been used (RFC 3207).
        case startTLS
        /// The connection was TLS from its first byte (implicit TLS, "port 465").
        case implicit
    }

    public enum Action: Sendable, Hashable {
        case reply(SMTPReply)
        /// Reply (if any), then close. Any open transaction is abandoned.
        case close(SMTPReply?)
        /// Check these credentials and report with `authenticationResult`.
        case verifyCredentials(SASL.Credentials)
        /// Open a transaction upstream with MAIL FROM; report with `mailResult`.
        case startMail(from: String, parameters: [SMTPParameter])
        /// Send RCPT upstream; report with `recipientResult`.
        case addRecipient(to: String, parameters: [SMTPParameter])
        /// Send DATA upstream; report with `dataStartResult`.
        case startData
        /// Drop the transaction (the upstream gets RSET), then reply.
        case resetTransaction(SMTPReply)
    }

    enum SASLStep: Sendable, Hashable {
        case plain
        case loginUsername
        case loginPassword(username: String)
    }

    // Internal, not private: the upstream verdicts (+UpstreamVerdicts) move it too.
    enum State: Sendable, Hashable {
        case awaitingHello
        case ready
        case authenticating(SASLStep)
        case verifying
        case authenticated(user: String)
        /// MAIL has been sent upstream; its verdict may still be on the way.
        case transaction(user: String, recipients: Int)
        case data(user: String, recipients: Int)
        /// The server gave up the transaction (its relay lost the upstream, say): the rest of it
        /// gets `reply` until MAIL or RSET.
        case aborted(user: String, reply: SMTPReply)
        case closed
    }

    public let configuration: Configuration
    var state: State = .awaitingHello
    private var hasGreeted = false
    private var authenticatedUser: String?
    private var badCommandsInARow = 0
    private var authenticationFailures = 0
    /// The connection is encrypted: implicit TLS, or STARTTLS accepted.
    private var tlsActive: Bool

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
        self.tlsActive = configuration.tls == .implicit
    }

    /// True once the connection is encrypted (implicit TLS, or after STARTTLS).
    public var isTLS: Bool { tlsActive }

    private var offersStartTLS: Bool { configuration.tls == .startTLS && !tlsActive }
    private var offersAuth: Bool { tlsActive || !configuration.authRequiresTLS }

    public var user: String? { authenticatedUser }

    public var isInTransaction: Bool {
        switch state {
        case .transaction, .data: true
        default: false
        }
    }

    public var greeting: SMTPReply {
        SMTPReply(220, "2.0.0", "\(configuration.hostname) \(configuration.greetingText)")
    }

    public var ehloKeywords: [String] {
        ["PIPELINING", "SIZE \(configuration.maxMessageSize)", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"]
            + (offersStartTLS ? ["STARTTLS"] : [])
            + (offersAuth ? ["AUTH PLAIN LOGIN"] : [])
    }

    // MARK: Commands

    public mutating func command(_ parsed: Result<SMTPCommand, SMTPCommandError>) -> Action {
        switch parsed {
        case .failure(.httpRequest):
            state = .closed
            return .close(nil)
        case .failure(let error):
            return bad(error.reply)
        case .success(let command):
            return handle(command)
        }
    }

    public mutating func commandTooLong() -> Action {
        bad(SMTPReply(500, "5.5.2", "Line too long"))
    }

    private mutating func handle(_ command: SMTPCommand) -> Action {
        switch (command, state) {
        case (_, .closed), (_, .verifying), (_, .authenticating), (_, .data):
            // The framer never hands us a command in these states; treat it as out of sequence.
            return bad(SMTPReply(503, "5.5.1", "Bad sequence of commands"))
        case (.quit, _):
            state = .closed
            return .close(SMTPReply(221, "2.0.0", "Bye"))
        case (.noop, _):
            return good(SMTPReply(250, "2.0.0", "OK"))
        case (.help, _):
            return good(SMTPReply(214, "2.0.0", "See RFC 5321; this relay speaks ESMTP with AUTH PLAIN and LOGIN"))
        case (.vrfy, _):
            return good(SMTPReply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"))
        case (.starttls, _):
            return startTLS()
        case (.ehlo(let domain), _), (.helo(let domain), _):
            return hello(domain: domain, extended: { if case .ehlo = command { true } else { false } }())
        case (.rcpt, .aborted(_, let reply)), (.data, .aborted(_, let reply)):
            return .reply(reply)
        case (.rset, _):
            let reply = SMTPReply(250, "2.0.0", "Reset OK")
            if case .aborted(let user, _) = state {
                state = .authenticated(user: user)
                return good(reply)
            }
            if case .transaction(let user, _) = state {
                state = .authenticated(user: user)
                badCommandsInARow = 0
                return .resetTransaction(reply)
            }
            return good(reply)
        case (.auth(let mechanism, let initial), _):
            return auth(mechanism: mechanism, initialResponse: initial)
        case (.mail(let from, let parameters), _):
            return mail(from: from, parameters: parameters)
        case (.rcpt(let to, let parameters), _):
            return rcpt(to: to, parameters: parameters)
        case (.data, _):
            guard case .transaction(let user, let recipients) = state else {
                return bad(SMTPReply(503, "5.5.1", "Send MAIL and RCPT first"))
            }
            guard recipients > 0 else {
                return bad(SMTPReply(554, "5.5.1", "No valid recipients"))
            }
            state = .data(user: user, recipients: recipients)
            badCommandsInARow = 0
            return .startData
        }
    }

    private mutating func hello(domain: String, extended: Bool) -> Action {
        hasGreeted = true
        let name = configuration.hostname
        let reply = extended
            ? SMTPReply(code: 250, lines: ["\(name) greets \(domain)"] + ehloKeywords)
            : SMTPReply(250, "2.0.0", "\(name) greets \(domain)")
        // RFC 5321 4.1.4: a new EHLO/HELO resets any transaction in progress.
        if case .transaction(let user, _) = state {
            state = .authenticated(user: user)
            badCommandsInARow = 0
            return .resetTransaction(reply)
        }
        if case .awaitingHello = state { state = .ready }
        if case .aborted(let user, _) = state { state = .authenticated(user: user) }
        return good(reply)
    }

    /// RFC 3207: 220, then the connection layer puts TLS in front (dropping anything pipelined
    /// behind STARTTLS) and the session starts over as before EHLO, over TLS.
    private mutating func startTLS() -> Action {
        guard configuration.tls != .none else {
            return bad(SMTPReply(502, "5.5.1", "STARTTLS not offered on this listener"))
        }
        guard !tlsActive else { return bad(SMTPReply(503, "5.5.1", "TLS already active")) }
        guard hasGreeted else { return bad(SMTPReply(503, "5.5.1", "Send EHLO first")) }
        // Only between EHLO and AUTH: whatever was agreed in plaintext would be thrown away.
        guard case .ready = state, authenticatedUser == nil else {
            return bad(SMTPReply(503, "5.5.1", "STARTTLS not allowed now"))
        }
        // Everything learnt in plaintext is forgotten (RFC 3207 section 4.2): the client must
        // say EHLO again. The next command can only come over TLS: the connection drops
        // whatever followed STARTTLS and adds TLS before reading again.
        tlsActive = true
        hasGreeted = false
        state = .awaitingHello
        return good(SMTPReply(220, "2.0.0", "Ready to start TLS"))
    }

    private mutating func auth(mechanism: String, initialResponse: String?) -> Action {
        // Checked first, and the credentials never looked at: they crossed the network in clear.
        guard offersAuth else {
            return bad(SMTPReply(538, "5.7.11", "Encryption required for requested authentication mechanism; use STARTTLS"))
        }
        guard hasGreeted else { return bad(SMTPReply(503, "5.5.1", "Send EHLO first")) }
        guard authenticatedUser == nil else { return bad(SMTPReply(503, "5.5.1", "Already authenticated")) }
        guard case .ready = state else { return bad(SMTPReply(503, "5.5.1", "Bad sequence of commands")) }
        switch (mechanism, initialResponse) {
        case ("PLAIN", nil):
            state = .authenticating(.plain)
            return .reply(SMTPReply(code: 334, lines: [""]))
        case ("PLAIN", let response?):
            return plainResponse(response)
        case ("LOGIN", nil):
            state = .authenticating(.loginUsername)
            return .reply(SMTPReply(code: 334, lines: [SASL.loginUsernameChallenge]))
        case ("LOGIN", let response?):
            return loginUsername(response)
        default:
            return bad(SMTPReply(504, "5.5.4", "Unrecognized authentication mechanism"))
        }
    }

    /// A line sent in answer to a 334 challenge.
    public mutating func authResponse(_ response: String) -> Action {
        guard case .authenticating(let step) = state else {
            return bad(SMTPReply(503, "5.5.1", "Bad sequence of commands"))
        }
        if response == "*" {
            state = .ready
            return bad(SMTPReply(501, "5.0.0", "Authentication cancelled"))
        }
        switch step {
        case .plain:
            return plainResponse(response)
        case .loginUsername:
            return loginUsername(response)
        case .loginPassword(let username):
            guard case .success(let password) = SASL.decodeLoginField(response) else { return malformedSASL() }
            state = .verifying
            return .verifyCredentials(SASL.Credentials(username: username, password: password))
        }
    }

    private mutating func plainResponse(_ response: String) -> Action {
        guard case .success(let credentials) = SASL.decodePlain(response) else { return malformedSASL() }
        state = .verifying
        return .verifyCredentials(credentials)
    }

    private mutating func loginUsername(_ response: String) -> Action {
        guard case .success(let username) = SASL.decodeLoginField(response), !username.isEmpty else {
            return malformedSASL()
        }
        state = .authenticating(.loginPassword(username: username))
        return .reply(SMTPReply(code: 334, lines: [SASL.loginPasswordChallenge]))
    }

    private mutating func malformedSASL() -> Action {
        state = .ready
        return bad(SMTPReply(501, "5.5.2", "Cannot decode authentication response"))
    }

    /// The verdict on credentials from `verifyCredentials`; `user` is the canonical account email.
    /// A failure is answered `refusal` when given (the login was not even checked), else 535.
    public mutating func authenticationResult(user: String?, refusal: SMTPReply? = nil) -> Action {
        guard case .verifying = state else { return .reply(SMTPReply(503, "5.5.1", "Bad sequence of commands")) }
        guard let user else {
            state = .ready
            authenticationFailures += 1
            if authenticationFailures >= configuration.maxAuthenticationFailures {
                state = .closed
                return .close(SMTPReply(421, "4.7.0", "Too many failed logins, closing connection"))
            }
            // Says nothing about which part was wrong (RFC 4954 535 5.7.8).
            return bad(refusal ?? SMTPReply(535, "5.7.8", "Authentication credentials invalid"))
        }
        authenticatedUser = user
        state = .authenticated(user: user)
        return good(SMTPReply(235, "2.7.0", "Authentication successful"))
    }

    private mutating func mail(from: String, parameters: [SMTPParameter]) -> Action {
        guard hasGreeted else { return bad(SMTPReply(503, "5.5.1", "Send EHLO first")) }
        guard let user = authenticatedUser else { return bad(SMTPReply(530, "5.7.0", "Authentication required")) }
        switch state {
        case .authenticated, .aborted: break
        default: return bad(SMTPReply(503, "5.5.1", "Nested MAIL command"))
        }
        for parameter in parameters {
            switch (parameter.keyword, parameter.value) {
            case ("SIZE", let value?):
                guard let size = Int(value), size >= 0 else { return bad(SMTPReply(501, "5.5.4", "Bad SIZE value")) }
                if size > configuration.maxMessageSize {
                    return bad(SMTPReply(552, "5.3.4", "Message size exceeds fixed limit of \(configuration.maxMessageSize) octets"))
                }
            case ("BODY", let value?) where ["7BIT", "8BITMIME"].contains(value.uppercased()):
                break
            case ("SMTPUTF8", nil):
                break
            default:
                return bad(SMTPReply(555, "5.5.4", "Unsupported MAIL parameter \(parameter.keyword)"))
            }
        }
        state = .transaction(user: user, recipients: 0)
        badCommandsInARow = 0
        return .startMail(from: from, parameters: parameters)
    }

    private mutating func rcpt(to: String, parameters: [SMTPParameter]) -> Action {
        guard case .transaction(let user, let recipients) = state else {
            return bad(SMTPReply(503, "5.5.1", "Send MAIL first"))
        }
        if let parameter = parameters.first {
            return bad(SMTPReply(555, "5.5.4", "Unsupported RCPT parameter \(parameter.keyword)"))
        }
        guard recipients < configuration.maxRecipients else {
            return .reply(SMTPReply(452, "4.5.3", "Too many recipients"))
        }
        // Counted now, before the verdict, so pipelined RCPTs cannot overshoot the limit.
        state = .transaction(user: user, recipients: recipients + 1)
        badCommandsInARow = 0
        return .addRecipient(to: to, parameters: parameters)
    }

    // MARK: Bookkeeping

    private mutating func good(_ reply: SMTPReply) -> Action {
        badCommandsInARow = 0
        return .reply(reply)
    }

    private mutating func bad(_ reply: SMTPReply) -> Action {
        badCommandsInARow += 1
        if badCommandsInARow >= configuration.maxBadCommandsInARow {
            state = .closed
            return .close(SMTPReply(421, "4.7.0", "Too many errors, closing connection"))
        }
        return .reply(reply)
    }
}
