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
    private enum PendingReply {
        case local(SMTPReply)
        case mail(EventLoopFuture<SMTPReply>)
        case recipient(EventLoopFuture<SMTPReply>)
        /// RSET left over from the lease's previous user; its reply is not the client's.
        case upstreamReset(EventLoopFuture<SMTPReply>)
        /// DATA sent behind MAIL and RCPT; its reply is kept for the state machine's DATA step.
        case dataStart(EventLoopFuture<SMTPReply>)
    }

    private struct Body {
        var size = 0
        /// Set once the message cannot go through; the rest of the body is read and dropped.
        var failure: SMTPReply?
    }

    private enum Next { case proceed, close }

    typealias Outbound = NIOAsyncChannelOutboundWriter<SMTPReply>

    private let accounts: RelayAccounts
    private let configuration: RelaySessionConfiguration
    private var logger: Logger
    private var machine: SMTPServerStateMachine
    /// The login email, once authenticated.
    private var login: String?
    /// The password the client proved; a reload that changes it ends the session at its next MAIL.
    private var loginPassword: String?
    /// The account as it was when the current (or last) transaction started; a reload in the
    /// meantime applies from the next MAIL.
    private var account: RelayAccount?
    private var lease: AccountPool.Lease?
    /// Held from MAIL until the transaction ends: the account's concurrency slot and counts.
    private var admission: Admission?
    private var pending: [PendingReply] = []
    /// Replies resolved and not yet written: a pipelined group is answered in one write.
    private var unsent: [SMTPReply] = []
    /// The upstream's answer to a DATA that went out with MAIL and RCPT.
    private var pipelinedData: Result<SMTPReply, any Error>?
    private var body: Body?
    private var transactionStart: ContinuousClock.Instant?
    private var recipientCount = 0

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
        self.machine = SMTPServerStateMachine(configuration: configuration.stateMachine)
    }

    mutating func run(_ connection: SMTPServerConnection) async {
        clientLoop = connection.channel.eventLoop
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(machine.greeting)
                session: for try await frames in inbound {
                    for index in frames.indices {
                        // A body chunk followed by the end of data in the same read goes out
                        // with the end-of-data line in one write.
                        let endsNext = index + 1 < frames.endIndex && { if case .endOfData = frames[index + 1] { true } else { false } }()
                        if try await handle(frames[index], outbound, endOfDataFollows: endsNext) == .close { break session }
                    }
                    try await flush(outbound)
                    if let drain, drain.update(betweenTransactions: !machine.isInTransaction && body == nil) {
                        // Shutting down: a session that just finished its transaction leaves now.
                        try await outbound.write(SessionRegistry.goodbye)
                        break session
                    }
                }
            }
        } catch {
            logger.debug("client connection ended", metadata: ["error": "\(error)"])
        }
        // Verdicts still on their way would be read by the connection's next user as its own.
        if pending.contains(where: { if case .local = $0 { false } else { true } }) { dropLease() }
        pending.removeAll()
        abandonTransaction()
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
                return try await perform(machine.command(parsed), outbound)
            case .success(.data) where queueDataUpstream():
                // DATA travels with MAIL and RCPT (RFC 2920 allows it last in a group); the
                // verdicts so far are collected, and written with the answer to DATA.
                await resolvePending()
                let next = try await perform(machine.command(parsed), outbound)
                if case .success(let reply)? = pipelinedData, reply.code == 354 {
                    // The state machine refused DATA but the upstream opened it: only closing
                    // keeps that upstream from taking a message.
                    dropLease()
                }
                pipelinedData = nil
                return next
            default:
                // Only MAIL and RCPT (and DATA behind them) travel pipelined; everything else
                // needs the verdicts so far.
                try await flush(outbound)
                return try await perform(machine.command(parsed), outbound)
            }
        case .commandTooLong:
            try await flush(outbound)
            return try await perform(machine.commandTooLong(), outbound)
        case .authResponse(let line):
            return try await perform(machine.authResponse(String(buffer: line)), outbound)
        case .data(let chunk):
            await relayBody(chunk, endOfDataFollows: endOfDataFollows)
            return .proceed
        case .dataAfterBareLineEnding(let chunk):
            refuseBody(chunk)
            return .proceed
        case .endOfData(let summary):
            await finishBody(summary)
            return .proceed
        }
    }

    private mutating func perform(_ action: SMTPServerStateMachine.Action, _ outbound: Outbound) async throws -> Next {
        switch action {
        case .reply(let reply):
            pending.append(.local(reply))
        case .close(let reply):
            try await flush(outbound)
            abandonTransaction()
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
                return try await perform(machine.authenticationResult(user: nil, refusal: Self.tooManyFailedLogins), outbound)
            }
            let verified = verify(credentials)
            account = verified
            login = verified?.account.email
            loginPassword = verified == nil ? nil : credentials.password
            if let verified {
                logger[metadataKey: "account_id"] = "\(verified.account.accountID)"
                logger.info("client authenticated")
            } else {
                ProxyMetrics.recordLoginFailure(.failed)
                let failure = loginFailures?.recordFailure(name: credentials.username, address: clientAddress)
                let username: Logger.Metadata.Value = "\(credentials.username.prefix(320))"
                if failure?.exhaustsBudget == true {
                    logger.warning("login failures over budget: further logins for this name or from this address are refused for a while",
                                   metadata: ["username": username])
                } else if failure.map(\.startsBurst) ?? true {
                    logger.notice("client authentication failed", metadata: ["username": username])
                }
            }
            return try await perform(machine.authenticationResult(user: verified?.account.email), outbound)
        case .startMail(let from, let parameters):
            switch currentLogin() {
            case .success(let account):
                await startMail(account, from: from, parameters: parameters)
            case .failure(let ended):
                // The operator changed or removed the credential this session proved: it may
                // not start another transaction, and it is told why before it is closed.
                logger.notice("session ended: \(ended.reason)")
                return try await perform(.close(Self.credentialsChanged), outbound)
            }
        case .addRecipient(let to, _):
            await addRecipient(to: to)
        case .startData:
            await startData()
        case .resetTransaction(let reply):
            abandonTransaction()
            endAdmission(accepted: false)
            pending.append(.local(reply))
        }
        return .proceed
    }

    // MARK: Authentication

    /// The password check runs even for unknown users so timing says nothing about which
    /// part was wrong.
    private func verify(_ credentials: SASL.Credentials) -> RelayAccount? {
        let candidate = accounts.lookup(email: credentials.username)
        let expected = candidate?.account.password
        let matches = constantTimeEquals(expected ?? "\u{0}no-password", credentials.password)
        guard let candidate, expected != nil, matches else { return nil }
        return candidate
    }

    private struct LoginEnded: Error {
        var reason: String
    }

    /// The logged-in account as the accounts are now, or why the login no longer holds after a reload.
    private func currentLogin() -> Result<RelayAccount, LoginEnded> {
        guard let login, let loginPassword else { return .failure(LoginEnded(reason: "not logged in")) }
        guard let current = accounts.lookup(email: login) else { return .failure(LoginEnded(reason: "account removed by a reload")) }
        guard let password = current.account.password, constantTimeEquals(password, loginPassword) else {
            return .failure(LoginEnded(reason: "password changed by a reload"))
        }
        return .success(current)
    }

    static let tooManyFailedLogins = SMTPReply(454, "4.7.0", "Too many failed logins; try again later")

    static let credentialsChanged = SMTPReply(454, "4.7.0", "Credentials changed on the proxy; log in again")

    // MARK: Transaction

    private mutating func startMail(_ account: RelayAccount, from: String, parameters: [SMTPParameter]) async {
        transactionStart = .now
        recipientCount = 0
        if lease != nil { dropLease() }
        self.account = account
        switch await account.limiter.admit() {
        case .success(let granted):
            admission = granted
        case .failure(let failure):
            ProxyMetrics.recordMessage(.held, accountID: account.account.accountID)
            logger.notice("message held back", metadata: ["reason": "\(failure)"])
            pending.append(.local(machine.mailResult(failure.clientReply)))
            return
        }
        if configuration.dryRun {
            pending.append(.local(machine.mailResult(SMTPReply(250, "2.1.0", "Sender OK (dry-run)"))))
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
                pending.append(.local(machine.mailResult(error.clientReply)))
                return
            }
            var current = acquired
            let line = Self.mailLine(from: from, parameters: parameters, upstream: current.connection.client.capabilities)
            let reset = current.needsReset ? await send(current, "RSET", step: "RSET") : nil
            current.needsReset = false
            let mail = await send(current, line, step: "MAIL")
            lease = current
            let isStale = (current.idleFor ?? .zero) > configuration.staleAfter
            guard isStale, attempt == 1 else {
                if let reset { pending.append(.upstreamReset(reset)) }
                pending.append(.mail(mail))
                return
            }
            current.connection.client.flush()
            do {
                let reply = try await mail.get()
                pending.append(.mail(current.connection.client.eventLoop.makeSucceededFuture(reply)))
                return
            } catch {
                // The provider dropped it while idle; nothing was accepted, so try a fresh one.
                logger.debug("idle upstream connection was gone, replacing it")
                dropLease()
            }
        }
    }

    /// Carries over what the upstream understands; the state machine already refused the rest.
    static func mailLine(from: String, parameters: [SMTPParameter], upstream: EHLOCapabilities) -> String {
        var line = "MAIL FROM:<\(from)>"
        for parameter in parameters {
            let supported = switch parameter.keyword {
            case "SIZE": upstream.maxMessageSize != nil
            case "BODY": upstream.eightBitMIME
            case "SMTPUTF8": upstream.smtpUTF8
            default: false
            }
            if supported { line += " " + parameter.wireForm }
        }
        return line
    }

    private mutating func addRecipient(to: String) async {
        if var current = admission, let account {
            let refusal = account.limiter.admitRecipient(&current)
            admission = current
            if let refusal {
                logger.notice("recipient held back", metadata: ["reason": "\(refusal)"])
                pending.append(.local(machine.recipientResult(refusal.clientReply)))
                return
            }
        }
        if configuration.dryRun {
            pending.append(.local(machine.recipientResult(SMTPReply(250, "2.1.5", "Recipient OK (dry-run)"))))
            return
        }
        guard let lease else {
            pending.append(.local(machine.recipientResult(RelayFailure.upstreamLost.clientReply)))
            return
        }
        pending.append(.recipient(await send(lease, "RCPT TO:<\(to)>", step: "RCPT")))
    }

    private mutating func startData() async {
        if configuration.dryRun {
            body = Body()
            pending.append(.local(machine.dataStartResult(SMTPReply(code: 354, lines: ["Start mail input; end with <CRLF>.<CRLF>"]))))
            return
        }
        guard let lease else {
            machine.transactionLost()
            pending.append(.local(RelayFailure.upstreamLost.clientReply))
            return
        }
        let client = lease.connection.client
        do {
            let upstreamReply: SMTPReply
            if let pipelined = pipelinedData {
                pipelinedData = nil
                upstreamReply = try pipelined.get()
            } else {
                upstreamReply = try await Self.sendDATA(to: client, flush: true).get()
            }
            let verdict = read(upstreamReply, at: .data)
            if verdict.clientReply.code == 354 { body = Body() }
            pending.append(.local(machine.dataStartResult(verdict.clientReply)))
            if verdict.closesConnection {
                dropLease()
                machine.transactionLost()
            }
        } catch {
            logger.warning("upstream lost at DATA", metadata: ["error": "\(error)"])
            dropLease()
            machine.transactionLost()
            pending.append(.local(RelayFailure.upstreamLost.clientReply))
        }
    }

    private mutating func relayBody(_ chunk: ByteBuffer, endOfDataFollows: Bool) async {
        guard var state = body else { return }
        state.size += chunk.readableBytes
        if state.failure == nil {
            if state.size > configuration.stateMachine.maxMessageSize {
                // Closing mid-DATA is the only way to make an upstream drop what it has so far.
                state.failure = SMTPReply(552, "5.3.4", "Message size exceeds fixed maximum message size of \(configuration.stateMachine.maxMessageSize) octets")
                dropLease()
            } else if let lease, endOfDataFollows {
                lease.connection.client.queueBody(chunk)
            } else if let lease {
                do {
                    try await lease.connection.client.sendBody(chunk)
                } catch {
                    logger.warning("upstream lost during DATA", metadata: ["error": "\(error)"])
                    state.failure = RelayFailure.upstreamLost.clientReply
                    dropLease()
                }
            }
        }
        body = state
    }

    /// A bare CR or LF: nothing from here on goes upstream, and the upstream transaction ends
    /// without a terminator (closing is the only way to make a provider drop a half message).
    /// The client's data is still read to its end, then refused.
    private mutating func refuseBody(_ chunk: ByteBuffer) {
        guard var state = body else { return }
        state.size += chunk.readableBytes
        if state.failure == nil {
            state.failure = Self.bareLineEnding
            dropLease()
        }
        body = state
    }

    static let bareLineEnding = SMTPReply(550, "5.6.0", "Message has a bare CR or LF; lines must end with CRLF; not sent")

    private mutating func finishBody(_ summary: SMTPDataScanner.Summary) async {
        guard let state = body else { return }
        body = nil
        let reply: SMTPReply
        if let failure = state.failure {
            reply = failure
        } else if summary.sawLongLine {
            dropLease()
            reply = SMTPReply(500, "5.5.2", "Message has a line longer than 998 characters; not sent")
        } else if summary.sawBareLineEnding {
            dropLease()
            reply = Self.bareLineEnding
        } else if configuration.dryRun {
            reply = SMTPReply(250, "2.0.0", "dry-run: not relayed")
        } else if var current = lease {
            let client = current.connection.client
            do {
                let verdict = read(try await client.send(".", timeout: client.configuration.timeouts.dataEnd, step: "end of data").get(), at: .endOfData)
                reply = verdict.clientReply
                current.messagesSent += 1
                lease = nil
                account?.pool.release(current, reusable: !verdict.closesConnection)
            } catch {
                logger.warning("upstream lost at end of data", metadata: ["error": "\(error)"])
                dropLease()
                reply = RelayFailure.upstreamLost.clientReply
            }
        } else {
            reply = RelayFailure.upstreamLost.clientReply
        }
        machine.transactionEnded()
        endAdmission(accepted: reply.isPositiveCompletion)
        logOutcome(reply, size: state.size)
        pending.append(.local(reply))
    }

    private func logOutcome(_ reply: SMTPReply, size: Int) {
        let duration = transactionStart.map { ContinuousClock.now - $0 } ?? .zero
        let milliseconds = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        let metadata: Logger.Metadata = [
            "smtp_code": "\(reply.code)", "size": "\(size)", "recipients": "\(recipientCount)",
            "duration_ms": "\(Int(milliseconds.rounded()))",
        ]
        ProxyMetrics.recordMessage(reply.isPositiveCompletion ? .relayed : reply.isPermanentFailure ? .rejected : .failed,
                                   accountID: account?.account.accountID)
        ProxyMetrics.recordRelayDuration(duration)
        if reply.isPositiveCompletion {
            ProxyMetrics.addRelayedBytes(size)
            logger.info("message relayed", metadata: metadata)
        } else {
            logger.warning("message not relayed", metadata: metadata.merging(["smtp_reply": "\(reply)"]) { $1 })
        }
    }

    // MARK: Replies

    /// Sends what is queued upstream, collects verdicts in order, answers the client at once.
    private mutating func flush(_ outbound: Outbound) async throws {
        await resolvePending()
        guard !unsent.isEmpty else { return }
        let replies = unsent
        unsent.removeAll(keepingCapacity: true)
        try await outbound.write(contentsOf: replies)
    }

    /// With a pipelining upstream and a transaction open there, queues DATA behind MAIL and
    /// RCPT so the three leave in one write; false when DATA must wait for the verdicts.
    private mutating func queueDataUpstream() -> Bool {
        guard !configuration.dryRun, let lease, lease.connection.client.capabilities.pipelining,
              pending.contains(where: { if case .mail = $0 { true } else { false } }) || machine.isInTransaction else { return false }
        pending.append(.dataStart(Self.sendDATA(to: lease.connection.client, flush: false)))
        return true
    }

    private static func sendDATA(to client: SMTPClientConnection, flush: Bool) -> EventLoopFuture<SMTPReply> {
        client.send("DATA", timeout: client.configuration.timeouts.dataStart, step: "DATA", flush: flush)
    }

    /// Sends what is queued upstream and collects the verdicts in order into `unsent`.
    private mutating func resolvePending() async {
        guard !pending.isEmpty else { return }
        lease?.connection.client.flush()
        var replies = unsent
        unsent = []
        replies.reserveCapacity(replies.count + pending.count)
        var lost = false
        for item in pending {
            switch item {
            case .local(let reply):
                replies.append(reply)
            case .dataStart(let future):
                do {
                    pipelinedData = .success(try await future.get())
                } catch {
                    pipelinedData = .failure(error)
                }
            case .upstreamReset(let future):
                _ = try? await future.get()
            case .mail(let future):
                do {
                    let verdict = read(try await future.get(), at: .mail)
                    replies.append(machine.mailResult(verdict.clientReply))
                    if verdict.closesConnection { lost = true }
                } catch {
                    lost = true
                    replies.append(machine.mailResult(RelayFailure.upstreamLost.clientReply))
                }
            case .recipient(let future):
                do {
                    let verdict = read(try await future.get(), at: .rcpt)
                    let reply = machine.recipientResult(verdict.clientReply)
                    if reply.isPositiveCompletion {
                        recipientCount += 1
                    } else if var current = admission {
                        account?.limiter.recipientRefused(&current)
                        admission = current
                    }
                    replies.append(reply)
                    if verdict.closesConnection {
                        lost = true
                        machine.transactionLost()
                    }
                } catch {
                    lost = true
                    machine.transactionLost()
                    replies.append(RelayFailure.upstreamLost.clientReply)
                }
            }
        }
        pending.removeAll(keepingCapacity: true)
        if lost {
            logger.warning("upstream lost during MAIL/RCPT")
            dropLease()
        } else if !machine.isInTransaction, lease != nil {
            if upstreamMayBeInData {
                // MAIL was refused but a lenient upstream opened the DATA that went up with it
                // (or never answered it): it now takes whatever comes next as a message body,
                // so no later session may have it.
                dropLease()
            } else if let current = lease {
                // MAIL was refused: no transaction is open upstream, the connection is clean.
                lease = nil
                account?.pool.release(current, reusable: true)
            }
        }
        if !machine.isInTransaction { endAdmission(accepted: false) }
        unsent = replies
    }

    /// Whether the DATA that went up with MAIL and RCPT was answered 354, or not answered at all.
    private var upstreamMayBeInData: Bool {
        switch pipelinedData {
        case .success(let reply)?: reply.code == 354
        case .failure?: true
        case nil: false
        }
    }

    // MARK: Upstream plumbing

    /// An upstream reply as the client should hear it; what it says about the account is
    /// applied on the way.
    private func read(_ reply: SMTPReply, at step: UpstreamStep) -> UpstreamVerdict {
        let verdict = UpstreamReplyPolicy.verdict(for: reply, at: step)
        if let pushback = verdict.pushback, let account {
            account.apply(pushback, logger: logger)
        }
        return verdict
    }

    /// Gives back the concurrency slot; counts stay only for messages the provider accepted.
    private mutating func endAdmission(accepted: Bool) {
        guard let current = admission else { return }
        admission = nil
        account?.limiter.finish(current, accepted: accepted)
    }

    /// Pipelined upstreams get the command queued for the next flush; others get it sent and
    /// answered before anything else goes out, as RFC 5321 requires without PIPELINING.
    private func send(_ lease: AccountPool.Lease, _ line: String, step: String) async -> EventLoopFuture<SMTPReply> {
        let client = lease.connection.client
        guard !client.capabilities.pipelining else {
            return client.send(line, step: step, flush: false)
        }
        let future = client.send(line, step: step, flush: true)
        _ = try? await future.get()
        return future
    }

    /// Gives the lease back after an abandoned transaction (RSET goes up with the next MAIL),
    /// or closes it if a body was half sent.
    private mutating func abandonTransaction() {
        guard var current = lease else { return }
        lease = nil
        if body != nil {
            body = nil
            account?.pool.release(current, reusable: false)
        } else {
            current.needsReset = true
            account?.pool.release(current, reusable: true)
        }
    }

    private mutating func dropLease() {
        guard let current = lease else { return }
        lease = nil
        account?.pool.release(current, reusable: false)
    }
}
