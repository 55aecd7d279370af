import Accounts
import Logging
import NIOCore
import Ops
import Resilience
import SMTPCore
import SMTPNIO

public struct RelaySessionConfiguration: Sendable {
    public var stateMachine = SMTPServerStateMachine.Configuration()
    /// Run the whole client session but contact no upstream.
    public var dryRun = false
    /// A reused connection idle longer than this has its MAIL answered before anything else is
    /// pipelined behind it, so a connection the provider dropped quietly is replaced unseen.
    public var staleAfter: Duration = .seconds(10)
    public init() {}
}

/// One client connection: SMTP in, the same transaction carried to the account's upstream.
///
/// Commands a client pipelines are pipelined upstream too; the replies come back in order and
/// are written with one flush per group. The client hears 250 for a message only when the
/// upstream said 250 to its end of data.
struct RelaySession {
    /// An upstream reply on its way, in the order the transaction awaits them.
    private typealias InFlight = EventLoopFuture<SMTPReply>

    private enum Next { case proceed, close }

    typealias Outbound = NIOAsyncChannelOutboundWriter<SMTPReply>
    private typealias LeaseAction = RelayTransaction<AccountPool.Lease>.LeaseAction

    private let accounts: RelayAccounts
    private let configuration: RelaySessionConfiguration
    private var logger: Logger
    /// What is owed to the client, what the upstream still has to answer, and what becomes of
    /// the lease after each outcome.
    private var transaction: RelayTransaction<AccountPool.Lease>
    /// Replies awaited from the upstream, oldest first, matching the transaction's order.
    private var inFlight: CircularBuffer<InFlight> = []
    /// What the client proved at AUTH; a reload that changes it ends the session at its next MAIL.
    private var login: SessionLogin?
    /// The account as it was when the current (or last) transaction started; a reload in the
    /// meantime applies from the next MAIL.
    private var account: RelayAccount?
    /// Held from MAIL until the transaction ends: the account's concurrency slot and counts.
    private var admission: Admission?
    private var transactionStart: ContinuousClock.Instant?

    private let drain: SessionDrain?
    /// Failed logins across connections; nil turns the budget off (in-process tests of other things).
    private let loginFailures: LoginFailureBudget?
    private let clientAddress: String?
    /// The client channel's event loop, which this session runs on; upstreams there are preferred.
    private var clientLoop: (any EventLoop)?

    init(accounts: RelayAccounts, configuration: RelaySessionConfiguration, logger: Logger, drain: SessionDrain? = nil,
         loginFailures: LoginFailureBudget? = nil, clientAddress: String? = nil) {
        self.drain = drain
        self.loginFailures = loginFailures
        self.clientAddress = clientAddress
        self.accounts = accounts
        self.configuration = configuration
        self.logger = logger
        self.transaction = RelayTransaction(server: SMTPServerStateMachine(configuration: configuration.stateMachine))
    }

    private var lease: AccountPool.Lease? { transaction.lease }

    mutating func run(_ connection: SMTPServerConnection) async {
        clientLoop = connection.channel.eventLoop
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(transaction.server.greeting)
                session: for try await frames in inbound {
                    for index in frames.indices {
                        // A body chunk followed by the end of data in the same read goes out
                        // with the end-of-data line in one write.
                        let endsNext = index + 1 < frames.endIndex && { if case .endOfData = frames[index + 1] { true } else { false } }()
                        if try await handle(frames[index], outbound, endOfDataFollows: endsNext) == .close { break session }
                    }
                    try await flush(outbound)
                    if let drain, drain.update(betweenTransactions: !transaction.isInTransaction && transaction.body == nil) {
                        // Shutting down: a session that just finished its transaction leaves now.
                        try await outbound.write(SessionRegistry.goodbye)
                        break session
                    }
                }
            }
        } catch {
            logger.debug("client connection ended", metadata: ["error": "\(error)"])
        }
        inFlight.removeAll()
        apply(transaction.sessionEnded())
        endAdmission(accepted: false)
    }

    // MARK: Frames

    private mutating func handle(_ frame: SMTPServerFrame, _ outbound: Outbound, endOfDataFollows: Bool) async throws -> Next {
        switch frame {
        case .command(let line):
            let parsed = SMTPCommandParser.parse(line.readableBytesView)
            if case .success(let command) = parsed {
                logger.trace("command", metadata: ["verb": "\(command.verb)"])
            }
            switch parsed {
            case .success(.mail), .success(.rcpt):
                return try await perform(transaction.command(parsed), outbound)
            case .success(.data) where !configuration.dryRun && transaction.shouldPipelineData:
                // DATA travels with MAIL and RCPT (RFC 2920 allows it last in a group); the
                // verdicts so far are collected, and written with the answer to DATA.
                await send("DATA", awaiting: .dataStart, timeout: lease?.connection.client.configuration.timeouts.dataStart)
                await resolvePending()
                let next = try await perform(transaction.command(parsed), outbound)
                apply(transaction.dataCommandHandled())
                return next
            default:
                // Only MAIL and RCPT (and DATA behind them) travel pipelined; everything else
                // needs the verdicts so far.
                try await flush(outbound)
                return try await perform(transaction.command(parsed), outbound)
            }
        case .commandTooLong:
            try await flush(outbound)
            return try await perform(transaction.commandTooLong(), outbound)
        case .authResponse(let line):
            return try await perform(transaction.authResponse(String(buffer: line)), outbound)
        case .data(let chunk):
            await relayBody(chunk, endOfDataFollows: endOfDataFollows)
            return .proceed
        case .dataAfterBareLineEnding(let chunk):
            apply(transaction.bodyChunkRefused(size: chunk.readableBytes))
            return .proceed
        case .endOfData(let summary):
            await finishBody(summary)
            return .proceed
        }
    }

    private mutating func perform(_ action: SMTPServerStateMachine.Action, _ outbound: Outbound) async throws -> Next {
        switch action {
        case .reply(let reply):
            transaction.reply(reply)
        case .close(let reply):
            try await flush(outbound)
            apply(transaction.abandon())
            endAdmission(accepted: false)
            if let reply { try await outbound.write(reply) }
            return .close
        case .verifyCredentials(let credentials):
            if case .refused(let delay)? = loginFailures?.check(name: credentials.username, address: clientAddress) {
                // Over the failure budget: not even the right password gets in, and the answer
                // comes late. Logged when the budget ran out, not per attempt.
                try await flush(outbound)
                if delay > .zero { try? await Task.sleep(for: delay) }
                ProxyMetrics.recordLoginFailure(.refused)
                return try await perform(transaction.authenticationResult(user: nil, refusal: SessionLogin.tooManyFailedLogins), outbound)
            }
            let verified = SessionLogin.verify(credentials, in: accounts, budget: loginFailures, clientAddress: clientAddress, logger: &logger)
            account = verified
            login = verified.map { SessionLogin(email: $0.account.email, password: credentials.password) }
            return try await perform(transaction.authenticationResult(user: verified?.account.email), outbound)
        case .startMail(let from, let parameters):
            switch login?.current(in: accounts) ?? .failure(SessionLogin.Ended(reason: "not logged in")) {
            case .success(let account):
                await startMail(account, from: from, parameters: parameters)
            case .failure(let ended):
                // The operator changed or removed the credential this session proved: it may
                // not start another transaction, and it is told why before it is closed.
                logger.notice("session ended: \(ended.reason)")
                return try await perform(.close(SessionLogin.credentialsChanged), outbound)
            }
        case .addRecipient(let to, _):
            await addRecipient(to: to)
        case .startData:
            await startData()
        case .resetTransaction(let reply):
            apply(transaction.abandon())
            endAdmission(accepted: false)
            transaction.reply(reply)
        }
        return .proceed
    }

    // MARK: Transaction

    private mutating func startMail(_ account: RelayAccount, from: String, parameters: [SMTPParameter]) async {
        transactionStart = .now
        apply(transaction.mailStarting())
        self.account = account
        switch await account.limiter.admit() {
        case .success(let granted):
            admission = granted
        case .failure(let failure):
            ProxyMetrics.recordMessage(.held, accountID: account.account.accountID)
            logger.notice("message held back", metadata: ["reason": "\(failure)"])
            transaction.mailAnswered(failure.clientReply)
            return
        }
        if configuration.dryRun {
            transaction.mailAnswered(SMTPReply(250, "2.1.0", "Sender OK (dry-run)"))
            return
        }
        for attempt in 1...2 {
            let acquired: AccountPool.Lease
            do {
                acquired = try await account.pool.acquire(preferring: clientLoop)
            } catch {
                logger.warning("no upstream connection", metadata: ["reason": "\(error)"])
                if case .refusedByProvider(let verdict) = error, let pushback = verdict.pushback {
                    account.apply(pushback, logger: logger)
                }
                endAdmission(accepted: false)
                transaction.mailAnswered(error.clientReply)
                return
            }
            let client = acquired.connection.client
            apply(transaction.leased(acquired, pipelining: client.capabilities.pipelining))
            let line = UpstreamMailCommand.line(from: from, parameters: parameters, upstream: client.capabilities)
            let isStale = (acquired.idleFor ?? .zero) > configuration.staleAfter
            guard isStale, attempt == 1 else {
                if acquired.needsReset { await send("RSET", awaiting: .reset) }
                await send(line, awaiting: .mail)
                return
            }
            // A connection idle this long may have been dropped by the provider: its MAIL is
            // answered before anything is pipelined behind it, and a dead one is replaced unseen.
            if acquired.needsReset { _ = await Self.outcome(client.send("RSET", step: "RSET")) }
            do {
                let reply = try await client.send(line, step: "MAIL").get()
                transaction.sent(.mail)
                inFlight.append(client.eventLoop.makeSucceededFuture(reply))
                return
            } catch {
                logger.debug("idle upstream connection was gone, replacing it")
                apply(transaction.closeLease())
            }
        }
    }

    private mutating func addRecipient(to: String) async {
        if var current = admission, let account {
            let refusal = account.limiter.admitRecipient(&current)
            admission = current
            if let refusal {
                logger.notice("recipient held back", metadata: ["reason": "\(refusal)"])
                transaction.recipientAnswered(refusal.clientReply)
                return
            }
        }
        if configuration.dryRun {
            transaction.recipientAnswered(SMTPReply(250, "2.1.5", "Recipient OK (dry-run)"))
            return
        }
        guard lease != nil else {
            transaction.recipientAnswered(RelayFailure.upstreamLost.clientReply)
            return
        }
        await send("RCPT TO:<\(to)>", awaiting: .recipient)
    }

    private mutating func startData() async {
        let result: Result<SMTPReply, any Error>
        switch transaction.dataRequested(dryRun: configuration.dryRun) {
        case .answered:
            return
        case .pipelined(let pipelined):
            result = pipelined
        case .send:
            guard let client = lease?.connection.client else { return }
            result = await Self.outcome(client.send("DATA", timeout: client.configuration.timeouts.dataStart, step: "DATA"))
        }
        if case .failure(let error) = result { logger.warning("upstream lost at DATA", metadata: ["error": "\(error)"]) }
        let (pushback, action) = transaction.dataReplied(result)
        applyPushback(pushback)
        apply(action)
    }

    private mutating func relayBody(_ chunk: ByteBuffer, endOfDataFollows: Bool) async {
        let (step, action) = transaction.bodyChunk(size: chunk.readableBytes, maxSize: configuration.stateMachine.maxMessageSize)
        apply(action)
        guard case .forward = step, let client = lease?.connection.client else { return }
        if endOfDataFollows {
            client.queueBody(chunk)
            return
        }
        do {
            try await client.sendBody(chunk)
        } catch {
            logger.warning("upstream lost during DATA", metadata: ["error": "\(error)"])
            apply(transaction.bodyChunkFailed())
        }
    }

    private mutating func finishBody(_ summary: SMTPDataScanner.Summary) async {
        let reply: SMTPReply
        switch transaction.endOfData(summary, dryRun: configuration.dryRun) {
        case nil:
            return
        case .answered(let decided, let action)?:
            apply(action)
            reply = decided
        case .sendTerminator?:
            guard let client = lease?.connection.client else { return }
            let result = await Self.outcome(client.send(".", timeout: client.configuration.timeouts.dataEnd, step: "end of data"))
            if case .failure(let error) = result { logger.warning("upstream lost at end of data", metadata: ["error": "\(error)"]) }
            let verdict = transaction.terminatorReplied(result)
            applyPushback(verdict.pushback)
            apply(verdict.action)
            reply = verdict.reply
        }
        let size = transaction.messageEnded(reply)
        endAdmission(accepted: reply.isPositiveCompletion)
        MessageOutcome.record(reply, size: size, recipients: transaction.recipientCount, startedAt: transactionStart,
                              accountID: account?.account.accountID, logger: logger)
    }

    // MARK: Replies

    /// Sends what is queued upstream, collects verdicts in order, answers the client at once.
    private mutating func flush(_ outbound: Outbound) async throws {
        await resolvePending()
        let replies = transaction.takeReadyReplies()
        guard !replies.isEmpty else { return }
        try await outbound.write(contentsOf: replies)
    }

    /// Sends what is queued upstream and feeds the verdicts, in order, to the transaction.
    private mutating func resolvePending() async {
        if !inFlight.isEmpty { lease?.connection.client.flush() }
        while let future = inFlight.popFirst() {
            let result = await Self.outcome(future)
            for effect in transaction.upstreamReplied(result) {
                switch effect {
                case .pushback(let pushback):
                    applyPushback(pushback)
                case .recipientRefused:
                    if var current = admission {
                        account?.limiter.recipientRefused(&current)
                        admission = current
                    }
                }
            }
        }
        let (action, lost) = transaction.settle()
        if lost { logger.warning("upstream lost during MAIL/RCPT") }
        apply(action)
        if !transaction.isInTransaction { endAdmission(accepted: false) }
    }

    // MARK: Upstream plumbing

    private func applyPushback(_ pushback: ProviderPushback?) {
        guard let pushback, let account else { return }
        account.apply(pushback, logger: logger)
    }

    /// Gives back the concurrency slot; counts stay only for messages the provider accepted.
    private mutating func endAdmission(accepted: Bool) {
        guard let current = admission else { return }
        admission = nil
        account?.limiter.finish(current, accepted: accepted)
    }

    /// Pipelined upstreams get the command queued for the next flush; others get it sent and
    /// answered before anything else goes out, as RFC 5321 requires without PIPELINING.
    private mutating func send(_ line: String, awaiting: RelayTransaction<AccountPool.Lease>.Awaited,
                               timeout: TimeAmount? = nil) async {
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
        if !pipelining { _ = try? await future.get() }
    }

    private static func outcome(_ future: EventLoopFuture<SMTPReply>) async -> Result<SMTPReply, any Error> {
        do {
            return .success(try await future.get())
        } catch {
            return .failure(error)
        }
    }

    /// Carries out what the transaction decided about the lease.
    private func apply(_ action: LeaseAction?) {
        guard let action, let pool = account?.pool else { return }
        switch action {
        case .close(let current):
            pool.release(current, reusable: false)
        case .release(var current, let needsReset, let messageSent):
            current.needsReset = needsReset
            if messageSent { current.messagesSent += 1 }
            pool.release(current, reusable: true)
        }
    }
}
