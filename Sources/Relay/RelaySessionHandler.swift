import Logging
import NIOCore
import Ops
import Resilience
import SMTPCore
import SMTPNIO

/// One client connection's relay, driven by its channel: frames in, replies out, and the same
/// transaction carried to the account's upstream through futures completed on this event loop.
///
/// `RelayTransaction` decides; this handler only executes. A message costs no task, no
/// continuation and no async writer: a pooled upstream on the same loop answers through a
/// future callback on this thread. Only the slow paths (waiting for a concurrency slot or for a
/// new upstream connection, a failed-login delay) leave the loop, through one task each.
///
/// Frames are handled one at a time. A step that waits for the upstream marks the handler busy:
/// frames that arrive meanwhile queue here and reads stop until they are handled, so a client
/// cannot make us buffer while its provider is slow.
final class RelaySessionHandler: ChannelDuplexHandler {
    typealias InboundIn = [SMTPServerFrame]
    typealias OutboundIn = SMTPReply
    typealias OutboundOut = SMTPReply

    struct Environment: Sendable {
        var accounts: RelayAccounts
        var configuration: RelaySessionConfiguration
        var logger: Logger
        var drain: SessionDrain?
        var loginFailures: LoginFailureBudget?
        var metrics: any RelayMetrics
        var clientAddress: String?
        /// Runs once, when the connection has closed and the lease is back.
        var onClose: @Sendable () -> Void = {}
    }

    typealias Transaction = RelayTransaction<AccountPool.Lease>

    let environment: Environment
    var logger: Logger
    var transaction: Transaction
    /// Replies awaited from the upstream, oldest first, matching the transaction's order.
    var inFlight: CircularBuffer<EventLoopFuture<SMTPReply>> = []
    var login: SessionLogin?
    /// The account as it was when the current (or last) transaction started.
    var account: RelayAccount?
    /// Held from MAIL until the transaction ends: the account's concurrency slot and counts.
    var admission: Admission?
    var transactionStart: ContinuousClock.Instant?

    private var frames: CircularBuffer<SMTPServerFrame> = []
    /// A step is waiting (for the upstream, a slot, a connection); frames wait behind it.
    private(set) var busy = false
    private var readPending = false
    /// Replies written and not flushed yet.
    private var unflushed = false
    private(set) var closed = false
    private var ended = false
    private(set) var context: ChannelHandlerContext?

    init(_ environment: Environment) {
        self.environment = environment
        self.logger = environment.logger
        self.transaction = RelayTransaction(server: SMTPServerStateMachine(configuration: environment.configuration.stateMachine))
    }

    var configuration: RelaySessionConfiguration { environment.configuration }
    var lease: AccountPool.Lease? { transaction.lease }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { greet(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        greet(context: context)
        context.fireChannelActive()
    }

    private var greeted = false

    private func greet(context: ChannelHandlerContext) {
        guard !greeted else { return }
        greeted = true
        context.writeAndFlush(wrapOutboundOut(transaction.server.greeting), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed else { return }
        frames.append(contentsOf: unwrapInboundIn(data))
        process()
    }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        end()
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("client connection ended", metadata: ["error": "\(error)"])
        closeConnection()
    }

    /// Reads wait while frames are queued, so backpressure reaches the client's socket instead
    /// of our memory. A step that waits with nothing queued behind it does not stop them: a
    /// client that waits for its answers sends nothing meanwhile, and turning read interest off
    /// and on again would cost two system calls per wait; one that pipelines ahead queues at
    /// most one read's frames before reads stop.
    func read(context: ChannelHandlerContext) {
        if !frames.isEmpty {
            readPending = true
        } else {
            context.read()
        }
    }

    private func end() {
        guard !ended else { return }
        ended = true
        closed = true
        frames.removeAll()
        inFlight.removeAll()
        // A step still waiting may have a command out upstream whose reply nobody will read:
        // that connection cannot go back to the pool.
        if busy { apply(transaction.closeLease()) }
        apply(transaction.sessionEnded())
        endAdmission(accepted: false)
        environment.onClose()
    }

    // MARK: The frame loop

    /// Handles queued frames until one has to wait, then, once the queue is empty, answers the
    /// client with everything owed in one write.
    func process() {
        // Replies written by the steps go out in one flush, when the group is handled or has
        // to wait.
        defer { flushIfNeeded() }
        while !busy, !closed, let frame = frames.popFirst() {
            let endOfDataFollows = { if case .endOfData? = frames.first { true } else { false } }()
            handle(frame, endOfDataFollows: endOfDataFollows)
        }
        guard !busy, !closed, frames.isEmpty else { return }
        // The group is handled: collect the verdicts still to come, then answer.
        guard inFlight.isEmpty else {
            resolvePending { _ in }
            return
        }
        writeReadyReplies()
        if let drain = environment.drain, drain.update(betweenTransactions: !transaction.isInTransaction && transaction.body == nil) {
            // Shutting down: a session that just finished its transaction leaves now.
            close(with: SessionRegistry.goodbye)
            return
        }
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    /// Marks the handler busy until `future` completes on this loop, then runs `next` and
    /// carries on with the frames queued behind.
    /// `evenIfClosed`: `next` also runs after the connection closed, to give back what the
    /// wait obtained (a concurrency slot, a lease).
    func wait<Value: Sendable>(for future: EventLoopFuture<Value>, evenIfClosed: Bool = false,
                               then next: @escaping (RelaySessionHandler, Result<Value, any Error>) -> Void) {
        guard let context else { return }
        busy = true
        future.hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] result in
            busy = false
            guard !closed || evenIfClosed else { return }
            next(self, result)
            process()
        }
    }

    /// Runs `operation` off the loop (a slow path: a wait for a slot or a new connection) and
    /// comes back to it with the result, even if the connection closed meanwhile (`next` then
    /// gives back what it got; see `closed`).
    func waitOffLoop<Value: Sendable>(_ operation: @escaping @Sendable () async -> Value,
                                      then next: @escaping (RelaySessionHandler, Value) -> Void) {
        guard let context else { return }
        let promise = context.eventLoop.makePromise(of: Value.self)
        promise.completeWithTask(operation)
        wait(for: promise.futureResult, evenIfClosed: true) { handler, result in
            guard case .success(let value) = result else { return }
            next(handler, value)
        }
    }

    // MARK: Replies and closing

    /// Sends what is queued upstream and feeds the verdicts, in order, to the transaction.
    func resolvePending(then next: @escaping (RelaySessionHandler) -> Void) {
        if !inFlight.isEmpty { lease?.connection.client.flush() }
        resolveNext(then: next)
    }

    /// One callback per reply and no combined future: replies come in order anyway.
    private func resolveNext(then next: @escaping (RelaySessionHandler) -> Void) {
        guard let future = inFlight.popFirst() else {
            settle()
            next(self)
            return
        }
        wait(for: future) { handler, result in
            handler.feed(result)
            handler.resolveNext(then: next)
        }
    }

    /// The verdicts so far, then what is owed written (flushed with the rest of the group),
    /// then `next`.
    func flushThen(_ next: @escaping (RelaySessionHandler) -> Void) {
        resolvePending { handler in
            handler.writeReadyReplies(flush: false)
            next(handler)
        }
    }

    private func feed(_ result: Result<SMTPReply, any Error>) {
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

    private func settle() {
        let (action, lost) = transaction.settle()
        if lost { logger.warning("upstream lost during MAIL/RCPT") }
        apply(action)
        if !transaction.isInTransaction { endAdmission(accepted: false) }
    }

    func writeReadyReplies(flush: Bool = true) {
        guard let context else { return }
        for reply in transaction.takeReadyReplies() {
            context.write(wrapOutboundOut(reply), promise: nil)
            unflushed = true
        }
        if flush { flushIfNeeded() }
    }

    private func flushIfNeeded() {
        guard unflushed, let context else { return }
        unflushed = false
        context.flush()
    }

    /// Answers what is owed, says `reply` last, and closes once it is written.
    func close(with reply: SMTPReply?) {
        guard let context, !closed else { return }
        writeReadyReplies()
        closed = true
        apply(transaction.abandon())
        endAdmission(accepted: false)
        guard let reply else {
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func closeConnection() {
        guard let context, !closed else { return }
        closed = true
        context.close(promise: nil)
    }

    // MARK: Upstream plumbing

    func applyPushback(_ pushback: ProviderPushback?) {
        guard let pushback, let account else { return }
        account.apply(pushback, logger: logger, metrics: environment.metrics)
    }

    /// Gives back the concurrency slot; counts stay only for messages the provider accepted.
    func endAdmission(accepted: Bool) {
        guard let current = admission else { return }
        admission = nil
        account?.limiter.finish(current, accepted: accepted)
    }

    /// Carries out what the transaction decided about the lease.
    func apply(_ action: Transaction.LeaseAction?) {
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
