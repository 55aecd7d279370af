import SMTPCore

/// Where in an upstream session a reply came from; the same code means different things at
/// different steps (a 5xx to RCPT is one recipient's verdict, to MAIL it is the message's).
public enum UpstreamStep: String, Sendable, Hashable, CaseIterable {
    /// Greeting, EHLO, STARTTLS.
    case connect
    case auth
    case mail
    case rcpt
    case data
    case endOfData
}

/// What the provider's reply says about the account, beyond this one transaction.
public enum ProviderPushback: Sendable, Hashable {
    /// The account's sending quota is spent (Gmail 550 5.4.5, Microsoft SubmissionQuotaExceeded).
    case quotaExhausted
    /// Too many concurrent connections for the mailbox (Microsoft 432 4.3.2).
    case connectionLimit
    /// Throttled: new connections should back off (Gmail 421 4.7.0, 454 4.7.0 too many logins).
    case slowDown
}

/// The relay's reading of one upstream reply: what the client hears, what it means for the
/// account, and whether the upstream connection can carry on.
public struct UpstreamVerdict: Sendable, Hashable {
    public var clientReply: SMTPReply
    public var pushback: ProviderPushback?
    /// The upstream closed (421) or is in a state we cannot trust; do not reuse it.
    public var closesConnection: Bool
}

/// Maps provider replies to client replies. The client's session must outlive any upstream
/// trouble, so nothing here ever makes the client hear 421; quota and throttling replies that
/// a provider words as permanent become temporary, so the app keeps the message and retries
/// instead of bouncing it.
public enum UpstreamReplyPolicy {
    public static func verdict(for reply: SMTPReply, at step: UpstreamStep) -> UpstreamVerdict {
        guard (200..<600).contains(reply.code) else {
            return UpstreamVerdict(clientReply: invalidReply, pushback: nil, closesConnection: true)
        }
        if isQuotaExhausted(reply) {
            return UpstreamVerdict(
                clientReply: SMTPReply(451, "4.4.5", "Sending quota for this account is used up at the provider, try again later (provider said: \(summary(reply)))"),
                pushback: .quotaExhausted, closesConnection: false)
        }
        if reply.code == 432 {
            return UpstreamVerdict(
                clientReply: SMTPReply(451, "4.3.2", "Provider limits concurrent connections for this account, try again later (provider said: \(summary(reply)))"),
                pushback: .connectionLimit, closesConnection: true)
        }
        if isSlowDown(reply) {
            return UpstreamVerdict(clientReply: temporary(reply), pushback: .slowDown, closesConnection: reply.code == 421)
        }
        if reply.code == 421 {
            return UpstreamVerdict(clientReply: temporary(reply), pushback: nil, closesConnection: true)
        }
        if !isExpected(reply.code, at: step) {
            return UpstreamVerdict(clientReply: invalidReply, pushback: nil, closesConnection: true)
        }
        if reply.isPermanentFailure, step == .connect || step == .auth {
            // Refusing us a session says nothing about the message: the app must keep it.
            let reply = step == .connect
                ? SMTPReply(451, "4.4.1", "Mail provider refused the connection, try again later (provider said: \(summary(reply)))")
                : SMTPReply(454, "4.7.0", "Mail provider refused authentication, try again later (provider said: \(summary(reply)))")
            return UpstreamVerdict(clientReply: reply, pushback: nil, closesConnection: true)
        }
        return UpstreamVerdict(clientReply: reply.withEnhancedStatus(), pushback: nil, closesConnection: false)
    }

    /// A reply we cannot interpret leaves us unsure what the upstream thinks the state is.
    static let invalidReply = SMTPReply(451, "4.5.0", "Mail provider sent an unexpected reply, try again later")

    static func isQuotaExhausted(_ reply: SMTPReply) -> Bool {
        guard reply.code >= 400 else { return false }
        if reply.isPermanentFailure, reply.enhancedStatus == "5.4.5" { return true }
        return reply.lines.contains { $0.containsIgnoringCase("SubmissionQuotaExceeded") }
    }

    static func isSlowDown(_ reply: SMTPReply) -> Bool {
        if reply.code == 421, reply.enhancedStatus == "4.7.0" { return true }
        return reply.code == 454 && reply.lines.contains { $0.containsIgnoringCase("too many login") }
    }

    /// 421 means the upstream is closing; to the client it is only this transaction that failed.
    static func temporary(_ reply: SMTPReply) -> SMTPReply {
        guard reply.code == 421 else { return reply.withEnhancedStatus() }
        let enhanced = reply.enhancedStatus ?? "4.4.2"
        let text = reply.lines.first.map { line in
            line.hasPrefix(enhanced) ? String(line.dropFirst(enhanced.count).drop { $0 == " " }) : line
        } ?? ""
        return SMTPReply(451, enhanced, text.isEmpty ? "Mail provider closed the connection, try again later" : text)
    }

    /// Only the reply codes RFC 5321 section 4.3.2 allows for the step, by class.
    static func isExpected(_ code: Int, at step: UpstreamStep) -> Bool {
        switch step {
        case .data: code == 354 || code >= 400
        case .auth: code == 235 || code == 334 || code >= 400
        case .connect, .mail, .rcpt, .endOfData: (200..<300).contains(code) || code >= 400
        }
    }

    /// The provider's first line, shortened: enough for an operator to recognise it.
    private static func summary(_ reply: SMTPReply) -> String {
        let line = "\(reply.code) \(reply.lines.first ?? "")"
        return line.count > 120 ? String(line.prefix(117)) + "..." : line
    }
}

extension StringProtocol {
    /// Provider texts vary in case between products and over time.
    func containsIgnoringCase(_ needle: String) -> Bool {
        lowercased().contains(needle.lowercased())
    }
}
