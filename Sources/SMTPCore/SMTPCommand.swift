/// A client command, parsed. Addresses are kept without angle brackets; the null reverse path is "".
public enum SMTPCommand: Sendable, Hashable {
    case ehlo(String)
    case helo(String)
    case mail(from: String, parameters: [SMTPParameter])
    case rcpt(to: String, parameters: [SMTPParameter])
    case data
    case rset
    case noop
    case quit
    case help
    case vrfy(String)
    case starttls
    case auth(mechanism: String, initialResponse: String?)

    /// The verb as logged; never includes arguments (an AUTH initial response is a secret).
    public var verb: String {
        switch self {
        case .ehlo: "EHLO"
        case .helo: "HELO"
        case .mail: "MAIL"
        case .rcpt: "RCPT"
        case .data: "DATA"
        case .rset: "RSET"
        case .noop: "NOOP"
        case .quit: "QUIT"
        case .help: "HELP"
        case .vrfy: "VRFY"
        case .starttls: "STARTTLS"
        case .auth: "AUTH"
        }
    }
}

/// A MAIL/RCPT ESMTP parameter (`SIZE=1000`, `SMTPUTF8`). Keywords are upper-cased.
public struct SMTPParameter: Sendable, Hashable {
    public var keyword: String
    public var value: String?

    public init(_ keyword: String, _ value: String? = nil) {
        self.keyword = keyword.uppercased()
        self.value = value
    }

    public var wireForm: String { value.map { "\(keyword)=\($0)" } ?? keyword }
}

public enum SMTPCommandError: Error, Sendable, Hashable {
    case unrecognized
    case syntax(String)
    /// A line that is plainly HTTP: someone pointed a browser or a proxy at us.
    case httpRequest
    case invalidEncoding

    public var reply: SMTPReply {
        switch self {
        case .unrecognized: SMTPReply(500, "5.5.1", "Command unrecognized")
        case .syntax(let detail): SMTPReply(501, "5.5.4", "Syntax error: \(detail)")
        case .httpRequest: SMTPReply(554, "5.7.0", "This is an SMTP server, not HTTP")
        case .invalidEncoding: SMTPReply(500, "5.5.2", "Command is not valid UTF-8")
        }
    }
}
