import SMTPCore

/// What `--dry-run`'s in-process upstream answers: a permissive provider that takes every
/// sender and recipient and accepts every message without keeping it. The relay (session,
/// transaction, pool, client codec) runs against it exactly as against Gmail or Microsoft 365,
/// so a dry run exercises everything but the provider, and the relay itself knows nothing of it.
///
/// It keeps the sequence rules a real server keeps (RCPT needs MAIL, DATA needs a recipient):
/// a session that breaks them in a dry run would break them in production too.
struct DryRunProvider: Sendable {
    static let greeting = SMTPReply(code: 220, lines: ["dry-run ESMTP ready; nothing is relayed"])
    /// What a provider offers that the relay can use; SIZE without a limit (RFC 1870).
    static let ehlo = SMTPReply(code: 250, lines: ["dry-run", "PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"])
    static let accepted = SMTPReply(250, "2.0.0", "dry-run: not relayed")

    private var hasSender = false
    private var recipients = 0

    /// What the provider says to one command line, and whether it closes the connection after.
    mutating func reply(to line: String) -> (reply: SMTPReply, close: Bool) {
        let verb = line.prefix { $0 != " " && $0 != ":" }.uppercased()
        switch verb {
        case "EHLO", "HELO":
            reset()
            return (verb == "EHLO" ? Self.ehlo : SMTPReply(code: 250, lines: ["dry-run"]), false)
        case "MAIL":
            guard !hasSender else { return (SMTPReply(503, "5.5.1", "Nested MAIL command"), false) }
            hasSender = true
            return (SMTPReply(250, "2.1.0", "Sender OK"), false)
        case "RCPT":
            guard hasSender else { return (SMTPReply(503, "5.5.1", "MAIL first"), false) }
            recipients += 1
            return (SMTPReply(250, "2.1.5", "Recipient OK"), false)
        case "DATA":
            guard recipients > 0 else {
                reset()
                return (SMTPReply(554, "5.5.1", "No valid recipients"), false)
            }
            return (SMTPReply(code: 354, lines: ["Go ahead"]), false)
        case "RSET":
            reset()
            return (SMTPReply(250, "2.0.0", "OK"), false)
        case "NOOP":
            return (SMTPReply(250, "2.0.0", "OK"), false)
        case "QUIT":
            return (SMTPReply(221, "2.0.0", "Bye"), true)
        case "AUTH":
            // No credentials are asked for: nothing can be sent anywhere.
            return (SMTPReply(235, "2.7.0", "Accepted"), false)
        default:
            return (SMTPReply(502, "5.5.1", "Command not implemented"), false)
        }
    }

    /// The end of a message body: accepted, and dropped.
    mutating func endOfData() -> SMTPReply {
        reset()
        return Self.accepted
    }

    private mutating func reset() {
        hasSender = false
        recipients = 0
    }
}
