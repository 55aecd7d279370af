/// What a relay's upstream answered, fed back into the client's protocol state: a refused MAIL
/// ends the transaction, a refused RCPT does not count, a DATA not answered 354 leaves the
/// transaction open.
extension SMTPServerStateMachine {
    /// MAIL's verdict. Anything but 2xx means there is no transaction: the RCPTs and DATA a
    /// pipelining client sent behind it are answered 503 without counting as its errors, until
    /// it starts again with MAIL or RSET.
    public mutating func mailResult(_ reply: SMTPReply) -> SMTPReply {
        if !reply.isPositiveCompletion, case .transaction(let user, _) = state {
            state = .aborted(user: user, reply: SMTPReply(503, "5.5.1", "MAIL was not accepted; send MAIL again"))
        }
        return reply.withEnhancedStatus()
    }

    public mutating func recipientResult(_ reply: SMTPReply) -> SMTPReply {
        if !reply.isPositiveCompletion, case .transaction(let user, let recipients) = state {
            state = .transaction(user: user, recipients: max(0, recipients - 1))
        }
        return reply.withEnhancedStatus()
    }

    /// DATA's verdict: 354 means body follows; anything else leaves the transaction open.
    public mutating func dataStartResult(_ reply: SMTPReply) -> SMTPReply {
        if reply.code != 354, case .data(let user, let recipients) = state {
            state = .transaction(user: user, recipients: recipients)
        }
        return reply.isIntermediate ? reply : reply.withEnhancedStatus()
    }

    /// The transaction cannot go on (for a relay: its upstream went away): RCPT and DATA get
    /// `reply` until the client starts again with MAIL or RSET.
    public mutating func abortTransaction(with reply: SMTPReply) {
        switch state {
        case .transaction(let user, _), .data(let user, _):
            state = .aborted(user: user, reply: reply)
        default:
            break
        }
    }

    /// The transaction is over: the body was answered.
    public mutating func transactionEnded() {
        switch state {
        case .transaction(let user, _), .data(let user, _):
            state = .authenticated(user: user)
        default:
            break
        }
    }
}
