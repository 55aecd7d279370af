import Logging
import NIOCore
import Ops
import SMTPCore
import SMTPNIO

/// What the handler does for each frame and each protocol step; every wait goes through
/// `wait(for:)`, so frames behind it queue until it is over.
extension RelaySessionHandler {
    func handle(_ frame: SMTPServerFrame, endOfDataFollows: Bool) {
        switch frame {
        case .command(let line):
            let parsed = SMTPCommandParser.parse(line.readableBytesView)
            if case .success(let command) = parsed {
                logger.trace("command", metadata: ["verb": "\(command.verb)"])
            }
            switch parsed {
            case .success(.mail), .success(.rcpt):
                perform(transaction.command(parsed))
            case .success(.data) where transaction.shouldPipelineData:
                // DATA travels with MAIL and RCPT (RFC 2920 allows it last in a group); the
                // verdicts so far are collected, and written with the answer to DATA.
                send("DATA", awaiting: .dataStart, timeout: lease?.connection.client.configuration.timeouts.dataStart)
                resolvePending { handler in
                    handler.perform(handler.transaction.command(parsed))
                    handler.apply(handler.transaction.dataCommandHandled())
                }
            default:
                // Only MAIL and RCPT (and DATA behind them) travel pipelined; everything else
                // needs the verdicts so far.
                flushThen { $0.perform($0.transaction.command(parsed)) }
            }
        case .commandTooLong:
            flushThen { $0.perform($0.transaction.commandTooLong()) }
        case .authResponse(let line):
            perform(transaction.authResponse(String(buffer: line)))
        case .data(let chunk):
            relayBody(chunk, endOfDataFollows: endOfDataFollows)
        case .dataAfterBareLineEnding(let chunk):
            apply(transaction.bodyChunkRefused(size: chunk.readableBytes))
        case .endOfData(let summary):
            finishBody(summary)
        }
    }

    func perform(_ action: SMTPServerStateMachine.Action) {
        switch action {
        case .reply(let reply):
            transaction.reply(reply)
        case .close(let reply):
            flushThen { $0.close(with: reply) }
        case .verifyCredentials(let credentials):
            authenticate(credentials)
        case .startMail(let from, let parameters):
            switch login?.current(in: environment.accounts) ?? .failure(SessionLogin.Ended(reason: "not logged in")) {
            case .success(let account):
                startMail(account, from: from, parameters: parameters)
            case .failure(let ended):
                // The operator changed or removed the credential this session proved: it may
                // not start another transaction, and it is told why before it is closed.
                logger.notice("session ended: \(ended.reason)")
                perform(.close(SessionLogin.credentialsChanged))
            }
        case .addRecipient(let to, _):
            addRecipient(to: to)
        case .startData:
            startData()
        case .resetTransaction(let reply):
            apply(transaction.abandon())
            endAdmission(accepted: false)
            transaction.reply(reply)
        }
    }

    private func authenticate(_ credentials: SASL.Credentials) {
        if case .refused(let delay)? = environment.loginFailures?.check(name: credentials.username, address: environment.clientAddress) {
            // Over the failure budget: not even the right password gets in, and the answer
            // comes late. Logged when the budget ran out, not per attempt.
            flushThen { handler in
                let refuse = { (handler: RelaySessionHandler) in
                    handler.environment.metrics.loginFailed(.refused)
                    handler.perform(handler.transaction.authenticationResult(user: nil, refusal: SessionLogin.tooManyFailedLogins))
                }
                guard delay > .zero, let loop = handler.context?.eventLoop else { return refuse(handler) }
                handler.wait(for: loop.scheduleTask(in: TimeAmount(delay)) {}.futureResult) { handler, _ in refuse(handler) }
            }
            return
        }
        let verified = SessionLogin.verify(credentials, in: environment.accounts, budget: environment.loginFailures,
                                           clientAddress: environment.clientAddress, metrics: environment.metrics, logger: &logger)
        account = verified
        login = verified.map { SessionLogin(email: $0.account.email, password: credentials.password) }
        perform(transaction.authenticationResult(user: verified?.account.email))
    }

    // MARK: MAIL and RCPT

    private func startMail(_ account: RelayAccount, from: String, parameters: [SMTPParameter]) {
        transactionStart = .now
        apply(transaction.mailStarting())
        self.account = account
        let mail = PendingMail(account: account, from: from, parameters: parameters)
        if let decided = account.limiter.admitNow() {
            admitted(decided, mail)
        } else {
            let limiter = account.limiter
            waitOffLoop({ await limiter.admit() }) { $0.admitted($1, mail) }
        }
    }

    struct PendingMail {
        var account: RelayAccount
        var from: String
        var parameters: [SMTPParameter]
    }

    private func admitted(_ result: Result<Admission, RelayFailure>, _ mail: PendingMail) {
        if closed {
            if case .success(let granted) = result { mail.account.limiter.finish(granted, accepted: false) }
            return
        }
        switch result {
        case .success(let granted):
            admission = granted
        case .failure(let failure):
            environment.metrics.messageHeld(accountID: mail.account.account.accountID)
            logger.notice("message held back", metadata: ["reason": "\(failure)"])
            transaction.mailAnswered(failure.clientReply)
            return
        }
        acquire(mail, attempt: 1)
    }

    private func acquire(_ mail: PendingMail, attempt: Int) {
        let pool = mail.account.pool
        let loop = context?.eventLoop
        if let idle = pool.takeIdle(preferring: loop) {
            leased(.success(idle), mail, attempt: attempt)
            return
        }
        waitOffLoop({ () async -> Result<AccountPool.Lease, RelayFailure> in
            do throws(RelayFailure) {
                return .success(try await pool.acquire(preferring: loop))
            } catch {
                return .failure(error)
            }
        }) { $0.leased($1, mail, attempt: attempt) }
    }

    private func leased(_ result: Result<AccountPool.Lease, RelayFailure>, _ mail: PendingMail, attempt: Int) {
        if closed {
            // Nothing was sent on it: it goes back as it came.
            if case .success(let lease) = result { mail.account.pool.release(lease, reusable: true) }
            return
        }
        let acquired: AccountPool.Lease
        switch result {
        case .success(let lease):
            acquired = lease
        case .failure(let error):
            logger.warning("no upstream connection", metadata: ["reason": "\(error)"])
            if case .refusedByProvider(let verdict) = error, let pushback = verdict.pushback {
                mail.account.apply(pushback, logger: logger, metrics: environment.metrics)
            }
            endAdmission(accepted: false)
            transaction.mailAnswered(error.clientReply)
            return
        }
        let client = acquired.connection.client
        apply(transaction.leased(acquired, pipelining: client.capabilities.pipelining))
        let line = UpstreamMailCommand.line(from: mail.from, parameters: mail.parameters, upstream: client.capabilities)
        let isStale = (acquired.idleFor ?? .zero) > configuration.staleAfter
        guard isStale, attempt == 1 else {
            guard acquired.needsReset else { return send(line, awaiting: .mail) }
            return send("RSET", awaiting: .reset) { $0.send(line, awaiting: .mail) }
        }
        // A connection idle this long may have been dropped by the provider: its MAIL is
        // answered before anything is pipelined behind it, and a dead one is replaced unseen.
        let reset = acquired.needsReset
            ? client.send("RSET", step: "RSET").map { _ in () }.recover { _ in () }
            : client.eventLoop.makeSucceededVoidFuture()
        wait(for: reset.flatMap { client.send(line, step: "MAIL") }) { handler, result in
            switch result {
            case .success(let reply):
                handler.transaction.sent(.mail)
                handler.inFlight.append(client.eventLoop.makeSucceededFuture(reply))
            case .failure:
                handler.logger.debug("idle upstream connection was gone, replacing it")
                handler.apply(handler.transaction.closeLease())
                handler.acquire(mail, attempt: 2)
            }
        }
    }

    private func addRecipient(to: String) {
        if var current = admission, let account {
            let refusal = account.limiter.admitRecipient(&current)
            admission = current
            if let refusal {
                logger.notice("recipient held back", metadata: ["reason": "\(refusal)"])
                transaction.recipientAnswered(refusal.clientReply)
                return
            }
        }
        guard lease != nil else {
            transaction.recipientAnswered(RelayFailure.upstreamLost.clientReply)
            return
        }
        send("RCPT TO:<\(to)>", awaiting: .recipient)
    }

    /// Pipelined upstreams get the command queued for the next flush; others get it sent and
    /// answered before anything else goes out (RFC 5321 without PIPELINING), then `next`.
    func send(_ line: String, awaiting: Transaction.Awaited, timeout: TimeAmount? = nil,
              then next: ((RelaySessionHandler) -> Void)? = nil) {
        guard let client = lease?.connection.client else { return }
        let step = switch awaiting {
        case .reset: "RSET"
        case .mail: "MAIL"
        case .recipient: "RCPT"
        case .dataStart: "DATA"
        }
        let pipelining = client.capabilities.pipelining
        let future = client.send(line, timeout: timeout, step: step, flush: !pipelining)
        transaction.sent(awaiting)
        inFlight.append(future)
        if pipelining {
            next?(self)
        } else {
            wait(for: future) { handler, _ in next?(handler) }
        }
    }

    // MARK: DATA and the body

    private func startData() {
        switch transaction.dataRequested() {
        case .answered:
            return
        case .pipelined(let result):
            dataReplied(result)
        case .send:
            guard let client = lease?.connection.client else { return }
            wait(for: client.send("DATA", timeout: client.configuration.timeouts.dataStart, step: "DATA")) { $0.dataReplied($1) }
        }
    }

    private func dataReplied(_ result: Result<SMTPReply, any Error>) {
        if case .failure(let error) = result { logger.warning("upstream lost at DATA", metadata: ["error": "\(error)"]) }
        let (pushback, action) = transaction.dataReplied(result)
        applyPushback(pushback)
        apply(action)
    }

    private func relayBody(_ chunk: ByteBuffer, endOfDataFollows: Bool) {
        let (step, action) = transaction.bodyChunk(size: chunk.readableBytes, maxSize: configuration.stateMachine.maxMessageSize)
        apply(action)
        guard case .forward = step, let client = lease?.connection.client else { return }
        if endOfDataFollows {
            // Goes out with the end-of-data line in one write.
            client.queueBody(chunk)
            return
        }
        // Written at once while the upstream takes bytes. When its socket pushes back, the
        // session waits, and so reads nothing more from its client: a large message stays
        // flat in memory without a promise per chunk.
        guard let pushback = client.streamBody(chunk) else { return }
        wait(for: pushback) { handler, result in
            guard case .failure(let error) = result else { return }
            handler.logger.warning("upstream lost during DATA", metadata: ["error": "\(error)"])
            handler.apply(handler.transaction.bodyChunkFailed())
        }
    }

    private func finishBody(_ summary: SMTPDataScanner.Summary) {
        switch transaction.endOfData(summary) {
        case nil:
            return
        case .answered(let reply, let action)?:
            apply(action)
            messageAnswered(reply)
        case .sendTerminator?:
            guard let client = lease?.connection.client else { return }
            wait(for: client.send(".", timeout: client.configuration.timeouts.dataEnd, step: "end of data")) { handler, result in
                if case .failure(let error) = result {
                    handler.logger.warning("upstream lost at end of data", metadata: ["error": "\(error)"])
                }
                let verdict = handler.transaction.terminatorReplied(result)
                handler.applyPushback(verdict.pushback)
                handler.apply(verdict.action)
                handler.messageAnswered(verdict.reply)
            }
        }
    }

    private func messageAnswered(_ reply: SMTPReply) {
        let size = transaction.messageEnded(reply)
        endAdmission(accepted: reply.isPositiveCompletion)
        MessageOutcome.record(reply, size: size, recipients: transaction.recipientCount, startedAt: transactionStart,
                              accountID: account?.account.accountID, metrics: environment.metrics, logger: logger)
    }
}
