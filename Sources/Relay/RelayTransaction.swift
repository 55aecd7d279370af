import SMTPCore

/// One client session's relay bookkeeping as a pure state machine: the client's protocol state,
/// the replies owed to the client in command order (some decided here, some awaited from the
/// upstream), the body's fate and, after every outcome, what becomes of the upstream connection.
///
/// The session executes what it decides (sends lines, awaits replies, gives leases back); nothing
/// here touches a socket, so every outcome, including the ones that protect the next user of a
/// pooled connection, is tested without one. Upstream replies are fed back in the order their
/// commands were sent, which is the order an SMTP server answers them.
struct RelayTransaction<Lease: Sendable>: Sendable {
    /// An upstream reply still to come, and what it is for.
    enum Awaited: Sendable, Hashable {
        /// RSET for the lease's previous user; its reply is nobody's.
        case reset
        case mail
        case recipient
        /// DATA sent behind MAIL and RCPT; its reply is kept for the client's DATA step.
        case dataStart
    }

    /// What the session does with its lease. Every path that ends a lease goes through one of these.
    enum LeaseAction: Sendable {
        /// Back to the pool. `needsReset`: a transaction is open there, so RSET goes first next time.
        case release(Lease, needsReset: Bool, messageSent: Bool)
        /// Closed: half a message, a DATA that may be open, a reply we could not read.
        case close(Lease)
    }

    private enum Entry: Sendable {
        case ready(SMTPReply)
        case awaiting(Awaited)
    }

    /// The message body being read from the client.
    struct Body: Sendable {
        var size = 0
        /// Set once the message cannot go through; the rest of the body is read and dropped.
        var failure: SMTPReply?
    }

    private(set) var server: SMTPServerStateMachine
    private(set) var lease: Lease?
    /// The lease's upstream takes commands queued behind each other (RFC 2920).
    private(set) var upstreamPipelines = false
    private var entries: [Entry] = []
    private var awaitedCount = 0
    /// The upstream's answer to a DATA that went out with MAIL and RCPT.
    private var pipelinedData: Result<SMTPReply, any Error>?
    /// A reply since the last settle said the upstream cannot be trusted any more.
    private var upstreamLost = false
    /// Upstream replies came in since the last settle. Only they can end a transaction behind
    /// the session's back; a QUIT or an error after a good RCPT leaves the lease to `abandon`,
    /// which owes the upstream an RSET.
    private var unsettled = false
    private(set) var body: Body?
    /// Recipients the upstream accepted in this transaction.
    private(set) var recipientCount = 0

    init(server: SMTPServerStateMachine) {
        self.server = server
    }

    var isInTransaction: Bool { server.isInTransaction }

    /// Replies from the upstream still to come.
    var hasAwaitedReplies: Bool { awaitedCount > 0 }

    // MARK: Client commands

    mutating func command(_ parsed: Result<SMTPCommand, SMTPCommandError>) -> SMTPServerStateMachine.Action {
        server.command(parsed)
    }

    mutating func commandTooLong() -> SMTPServerStateMachine.Action { server.commandTooLong() }

    mutating func authResponse(_ response: String) -> SMTPServerStateMachine.Action { server.authResponse(response) }

    mutating func authenticationResult(user: String?, refusal: SMTPReply? = nil) -> SMTPServerStateMachine.Action {
        server.authenticationResult(user: user, refusal: refusal)
    }

    /// A reply decided without the upstream, owed to the client after those before it.
    mutating func reply(_ reply: SMTPReply) {
        entries.append(.ready(reply))
    }

    // MARK: MAIL and RCPT

    /// A new transaction begins; a lease still held from before cannot be trusted with it.
    mutating func mailStarting() -> LeaseAction? {
        recipientCount = 0
        return closeLease()
    }

    /// MAIL answered without the upstream (a limit, no connection).
    mutating func mailAnswered(_ reply: SMTPReply) {
        entries.append(.ready(server.mailResult(reply)))
    }

    mutating func leased(_ lease: Lease, pipelining: Bool) -> LeaseAction? {
        let previous = closeLease()
        self.lease = lease
        upstreamPipelines = pipelining
        return previous
    }

    /// RCPT answered without the upstream.
    mutating func recipientAnswered(_ reply: SMTPReply) {
        entries.append(.ready(server.recipientResult(reply)))
    }

    /// A command went upstream; its reply will be fed to `upstreamReplied` in order.
    mutating func sent(_ awaited: Awaited) {
        entries.append(.awaiting(awaited))
        awaitedCount += 1
    }

    /// Whether DATA should go up now behind MAIL and RCPT, in one write with them: the upstream
    /// pipelines and a transaction is open there or on its way.
    var shouldPipelineData: Bool {
        guard lease != nil, upstreamPipelines else { return false }
        return server.isInTransaction || entries.contains { if case .awaiting(.mail) = $0 { true } else { false } }
    }

    /// What an upstream reply says beyond the client's reply.
    enum Effect: Sendable, Hashable {
        case pushback(ProviderPushback)
        /// The account's recipient count gives this one back.
        case recipientRefused
    }

    /// The next awaited upstream reply (or the error that means it will not come).
    mutating func upstreamReplied(_ result: Result<SMTPReply, any Error>) -> [Effect] {
        guard let index = entries.firstIndex(where: { if case .awaiting = $0 { true } else { false } }),
              case .awaiting(let awaited) = entries[index] else { return [] }
        awaitedCount -= 1
        unsettled = true
        var effects: [Effect] = []
        func verdict(at step: UpstreamStep) -> UpstreamVerdict? {
            guard case .success(let reply) = result else { return nil }
            let verdict = UpstreamReplyPolicy.verdict(for: reply, at: step)
            if let pushback = verdict.pushback { effects.append(.pushback(pushback)) }
            return verdict
        }
        switch awaited {
        case .reset:
            entries.remove(at: index)
        case .dataStart:
            pipelinedData = result
            entries.remove(at: index)
        case .mail:
            if let verdict = verdict(at: .mail) {
                entries[index] = .ready(server.mailResult(verdict.clientReply))
                if verdict.closesConnection { upstreamLost = true }
            } else {
                upstreamLost = true
                entries[index] = .ready(server.mailResult(RelayFailure.upstreamLost.clientReply))
            }
        case .recipient:
            if let verdict = verdict(at: .rcpt) {
                let reply = server.recipientResult(verdict.clientReply)
                if reply.isPositiveCompletion {
                    recipientCount += 1
                } else {
                    effects.append(.recipientRefused)
                }
                entries[index] = .ready(reply)
                if verdict.closesConnection {
                    upstreamLost = true
                    server.abortTransaction(with: RelayFailure.upstreamLost.clientReply)
                }
            } else {
                upstreamLost = true
                server.abortTransaction(with: RelayFailure.upstreamLost.clientReply)
                entries[index] = .ready(RelayFailure.upstreamLost.clientReply)
            }
        }
        return effects
    }

    /// After the awaited replies are in: what becomes of the lease. `lost` says the upstream
    /// failed during MAIL or RCPT (the session logs it).
    mutating func settle() -> (action: LeaseAction?, lost: Bool) {
        guard awaitedCount == 0, unsettled else { return (nil, false) }
        unsettled = false
        if upstreamLost {
            upstreamLost = false
            return (closeLease(), true)
        }
        guard !server.isInTransaction, let current = lease else { return (nil, false) }
        lease = nil
        // MAIL was refused. A lenient upstream may have opened the DATA that went up with it
        // (or never answered it): it would take whatever comes next as a message body.
        if upstreamMayBeInData { return (.close(current), false) }
        return (.release(current, needsReset: false, messageSent: false), false)
    }

    /// The replies owed to the client that can be written now, in order.
    mutating func takeReadyReplies() -> [SMTPReply] {
        var replies: [SMTPReply] = []
        var taken = 0
        for entry in entries {
            guard case .ready(let reply) = entry else { break }
            replies.append(reply)
            taken += 1
        }
        entries.removeFirst(taken)
        return replies
    }

    private var upstreamMayBeInData: Bool {
        switch pipelinedData {
        case .success(let reply)?: reply.code == 354
        case .failure?: true
        case nil: false
        }
    }

    // MARK: Ending leases

    mutating func closeLease() -> LeaseAction? {
        guard let current = lease else { return nil }
        lease = nil
        return .close(current)
    }

    /// The client reset or left: the lease goes back with RSET owed, or is closed if a body was
    /// half sent (closing is the only way to make an upstream drop part of a message).
    mutating func abandon() -> LeaseAction? {
        let inBody = body != nil
        body = nil
        guard let current = lease else { return nil }
        lease = nil
        return inBody ? .close(current) : .release(current, needsReset: true, messageSent: false)
    }

    /// The client connection ended. Replies still on their way would be read by the
    /// connection's next user as its own.
    mutating func sessionEnded() -> LeaseAction? {
        let action = hasAwaitedReplies ? closeLease() : abandon()
        entries.removeAll()
        awaitedCount = 0
        body = nil
        return action
    }

    // MARK: DATA and the body

    enum DataStep: Sendable {
        /// Answered here (no upstream any more); nothing to send.
        case answered
        /// DATA went up with MAIL and RCPT: this is its reply, for `dataReplied`.
        case pipelined(Result<SMTPReply, any Error>)
        /// Send DATA now and feed its reply to `dataReplied`.
        case send
    }

    /// The client's DATA, which the protocol state allowed.
    mutating func dataRequested() -> DataStep {
        guard lease != nil else {
            server.abortTransaction(with: RelayFailure.upstreamLost.clientReply)
            reply(RelayFailure.upstreamLost.clientReply)
            return .answered
        }
        if let pipelined = pipelinedData {
            pipelinedData = nil
            return .pipelined(pipelined)
        }
        return .send
    }

    /// The upstream's answer to DATA: 354 opens the body.
    mutating func dataReplied(_ result: Result<SMTPReply, any Error>) -> (pushback: ProviderPushback?, action: LeaseAction?) {
        guard case .success(let upstreamReply) = result else {
            server.abortTransaction(with: RelayFailure.upstreamLost.clientReply)
            reply(RelayFailure.upstreamLost.clientReply)
            return (nil, closeLease())
        }
        let verdict = UpstreamReplyPolicy.verdict(for: upstreamReply, at: .data)
        if verdict.clientReply.code == 354 { body = Body() }
        reply(server.dataStartResult(verdict.clientReply))
        guard verdict.closesConnection else { return (verdict.pushback, nil) }
        server.abortTransaction(with: RelayFailure.upstreamLost.clientReply)
        return (verdict.pushback, closeLease())
    }

    /// The client's DATA command has been dealt with. A pipelined DATA the upstream opened but
    /// the client's DATA did not use (no recipient was accepted) leaves the upstream waiting
    /// for a body: only closing keeps it from taking the next user's commands as one.
    mutating func dataCommandHandled() -> LeaseAction? {
        defer { pipelinedData = nil }
        guard case .success(let reply)? = pipelinedData, reply.code == 354 else { return nil }
        return closeLease()
    }

    enum ChunkStep: Sendable {
        /// Send it upstream.
        case forward
        /// Read and drop it (the message already failed, or there is no upstream).
        case drop
    }

    /// A chunk of the client's body. Once the message is over `maxSize` nothing more goes up and
    /// the upstream is closed mid-DATA, the only way to make it drop what it has so far.
    mutating func bodyChunk(size: Int, maxSize: Int) -> (ChunkStep, LeaseAction?) {
        guard var current = body else { return (.drop, nil) }
        defer { body = current }
        current.size += size
        guard current.failure == nil else { return (.drop, nil) }
        if current.size > maxSize {
            current.failure = SMTPReply(552, "5.3.4", "Message size exceeds fixed maximum message size of \(maxSize) octets")
            return (.drop, closeLease())
        }
        return (lease == nil ? .drop : .forward, nil)
    }

    /// Sending a chunk upstream failed.
    mutating func bodyChunkFailed() -> LeaseAction? {
        if body != nil, body?.failure == nil { body?.failure = RelayFailure.upstreamLost.clientReply }
        return closeLease()
    }

    static var bareLineEnding: SMTPReply {
        SMTPReply(550, "5.6.0", "Message has a bare CR or LF; lines must end with CRLF; not sent")
    }

    /// A chunk after a bare CR or LF: nothing from here on goes upstream, and the upstream
    /// transaction ends without a terminator. The client's data is still read to its end.
    mutating func bodyChunkRefused(size: Int) -> LeaseAction? {
        guard var current = body else { return nil }
        defer { body = current }
        current.size += size
        guard current.failure == nil else { return nil }
        current.failure = Self.bareLineEnding
        return closeLease()
    }

    enum EndStep: Sendable {
        /// The message's reply is decided; pass it to `messageEnded`.
        case answered(SMTPReply, LeaseAction?)
        /// Send the terminator and feed its reply to `terminatorReplied`.
        case sendTerminator
    }

    /// The client's end of data. Returns nil outside a body.
    mutating func endOfData(_ summary: SMTPDataScanner.Summary) -> EndStep? {
        guard let current = body else { return nil }
        if let failure = current.failure { return .answered(failure, nil) }
        if summary.sawLongLine {
            return .answered(SMTPReply(500, "5.5.2", "Message has a line longer than 998 characters; not sent"), closeLease())
        }
        if summary.sawBareLineEnding { return .answered(Self.bareLineEnding, closeLease()) }
        if lease == nil { return .answered(RelayFailure.upstreamLost.clientReply, nil) }
        return .sendTerminator
    }

    /// The upstream's verdict on the message.
    mutating func terminatorReplied(_ result: Result<SMTPReply, any Error>) -> (reply: SMTPReply, pushback: ProviderPushback?, action: LeaseAction?) {
        guard case .success(let upstreamReply) = result else {
            return (RelayFailure.upstreamLost.clientReply, nil, closeLease())
        }
        let verdict = UpstreamReplyPolicy.verdict(for: upstreamReply, at: .endOfData)
        guard let current = lease else { return (verdict.clientReply, verdict.pushback, nil) }
        lease = nil
        let action: LeaseAction = verdict.closesConnection
            ? .close(current) : .release(current, needsReset: false, messageSent: true)
        return (verdict.clientReply, verdict.pushback, action)
    }

    /// The message is answered: the transaction is over. Returns the body's size, for the log.
    mutating func messageEnded(_ finalReply: SMTPReply) -> Int {
        let size = body?.size ?? 0
        body = nil
        server.transactionEnded()
        reply(finalReply)
        return size
    }
}
