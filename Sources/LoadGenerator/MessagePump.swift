import NIOCore
import SMTPCore
import SMTPNIO

/// Sends messages back to back on one authenticated connection, entirely on the connection's
/// event loop: no task, no thread hop and no allocation of the body per message; one lock per
/// message (in `RunState.finish`).
///
/// With PIPELINING, MAIL, every RCPT and DATA go out in one write; after 354 the body and the
/// "." line go out in one more. Without it, each command waits for its reply.
final class MessagePump {
    enum End: Sendable, Hashable {
        /// The run has nothing more for this session.
        case finished
        /// `messagesPerSession` reached: QUIT and reconnect.
        case sessionLimit
        /// The connection is gone or going (transport failure, 421); the message in flight was counted.
        case failed(String)
    }

    struct Plan: Sendable {
        var connection: SMTPClientConnection
        var mailLine: String
        var recipientLines: [String]
        /// Dot-stuffed message ending in CRLF, shared by every send.
        var body: ByteBuffer
        var pipelining: Bool
        /// 0: unlimited.
        var messageLimit: Int
        var endOfDataTimeout: TimeAmount
    }

    private let plan: Plan
    private let state: RunState
    private let stats: SessionStats
    private let eventLoop: any EventLoop
    private let done: EventLoopPromise<End>
    private var sentOnConnection = 0

    // The message in flight.
    private var claim = RunState.Claim(intendedStart: nil, recorded: false)
    private var startedAt = NIODeadline.uptimeNanoseconds(0)
    private var mailCode = 0
    private var acceptedRecipients = 0
    private var firstRecipientRefusal = 0

    /// Call on the connection's event loop.
    init(plan: Plan, state: RunState, stats: SessionStats) {
        self.plan = plan
        self.state = state
        self.stats = stats
        self.eventLoop = plan.connection.eventLoop
        self.done = eventLoop.makePromise(of: End.self)
    }

    /// Runs until the run is over, the session's message limit is reached, or the connection fails.
    func start() -> EventLoopFuture<End> {
        eventLoop.preconditionInEventLoop()
        next(after: nil)
        return done.futureResult
    }

    private func next(after completion: RunState.Completion?) {
        let limitReached = plan.messageLimit > 0 && sentOnConnection >= plan.messageLimit
        let now = NIODeadline.now()
        guard let claim = state.finish(completion, claimNext: !limitReached, now: now) else {
            done.succeed(limitReached ? .sessionLimit : .finished)
            return
        }
        self.claim = claim
        if let intended = claim.intendedStart, intended > now {
            let scheduled = eventLoop.assumeIsolated().scheduleTask(deadline: intended) { self.begin() }
            // Only when the event loop shuts down under us: do not leave the session waiting.
            scheduled.futureResult.whenFailure { [done] error in done.fail(error) }
        } else {
            begin()
        }
    }

    private func begin() {
        sentOnConnection += 1
        startedAt = claim.intendedStart ?? NIODeadline.now()
        mailCode = 0
        acceptedRecipients = 0
        firstRecipientRefusal = 0
        let connection = plan.connection
        if plan.pipelining {
            connection.send(plan.mailLine, step: "MAIL", flush: false).assumeIsolated().whenSuccess { reply in
                self.mailCode = reply.code
            }
            for line in plan.recipientLines {
                connection.send(line, step: "RCPT", flush: false).assumeIsolated().whenSuccess { reply in
                    self.noteRecipient(reply)
                }
            }
            // Replies come in order: when DATA's is here, MAIL's and RCPT's callbacks have run.
            connection.send("DATA", step: "DATA", flush: true).assumeIsolated().whenComplete { result in
                self.dataAnswered(result)
            }
        } else {
            connection.send(plan.mailLine, step: "MAIL").assumeIsolated().whenComplete { result in
                switch result {
                case .failure(let error):
                    self.finish(.error, error: error)
                case .success(let reply):
                    self.mailCode = reply.code
                    if reply.isPositiveCompletion {
                        self.sendRecipient(0)
                    } else {
                        self.finish(.reply(reply.code))
                    }
                }
            }
        }
    }

    private func noteRecipient(_ reply: SMTPReply) {
        if reply.isPositiveCompletion {
            acceptedRecipients += 1
        } else if firstRecipientRefusal == 0 {
            firstRecipientRefusal = reply.code
        }
    }

    /// Without PIPELINING: one RCPT after the other, then DATA.
    private func sendRecipient(_ index: Int) {
        guard index < plan.recipientLines.count else {
            guard acceptedRecipients > 0 else {
                finish(.reply(firstRecipientRefusal), reset: true)
                return
            }
            plan.connection.send("DATA", step: "DATA").assumeIsolated().whenComplete { result in
                self.dataAnswered(result)
            }
            return
        }
        plan.connection.send(plan.recipientLines[index], step: "RCPT").assumeIsolated().whenComplete { result in
            switch result {
            case .failure(let error):
                self.finish(.error, error: error)
            case .success(let reply):
                self.noteRecipient(reply)
                self.sendRecipient(index + 1)
            }
        }
    }

    private func dataAnswered(_ result: Result<SMTPReply, any Error>) {
        let reply: SMTPReply
        switch result {
        case .failure(let error):
            // A server that refused MAIL with 421 and closed: the message's code is that 421.
            let refused = mailCode != 0 && !(200..<300).contains(mailCode)
            finish(refused ? .reply(mailCode) : .error, error: error)
            return
        case .success(let value):
            reply = value
        }
        let mailAccepted = (200..<300).contains(mailCode)
        // The first refusal decides the message's code: MAIL's, else RCPT's when none was accepted.
        let refusal: Int? = !mailAccepted ? mailCode : (acceptedRecipients == 0 ? firstRecipientRefusal : nil)
        guard reply.code == 354 else {
            finish(.reply(refusal ?? reply.code), reset: mailAccepted)
            return
        }
        if refusal == nil {
            // What `sendBody` writes, through the same handler, but not flushed and not awaited:
            // the body and the "." line leave in one write, and no task waits on the body.
            plan.connection.channel.write(SMTPClientRequest(bytes: plan.body, kind: .body, replyPromise: nil), promise: nil)
        }
        // A server that said 354 after refusing every recipient still needs its "." (RFC 2920).
        plan.connection.send(".", timeout: plan.endOfDataTimeout, step: "end of data", flush: true)
            .assumeIsolated().whenComplete { result in
                switch result {
                case .failure(let error):
                    self.finish(.error, error: error)
                case .success(let final):
                    self.finish(.reply(refusal ?? final.code))
                }
            }
    }

    /// Records the message (at its final reply), then goes on, or ends the pump when the
    /// connection failed (`error`) or the server is closing (421). `reset`: a transaction may
    /// still be open (MAIL accepted, no data sent), so RSET before the next.
    private func finish(_ outcome: SessionStats.Outcome, error: (any Error)? = nil, reset: Bool = false) {
        let now = NIODeadline.now()
        if claim.recorded {
            stats.record(latencyNanoseconds: (now - startedAt).nanoseconds, outcome: outcome)
        }
        var accepted = false
        var closing: String?
        if case .reply(let code) = outcome {
            accepted = (200..<300).contains(code)
            if code == 421 { closing = "closing: 421" }
        }
        if let error {
            closing = "lost: " + String(String(describing: error).prefix(160))
        } else if outcome == .error {
            closing = "lost: connection closed"
        }
        let completion = RunState.Completion(recorded: claim.recorded, accepted: accepted, at: now)
        if let closing {
            end(after: completion, failure: closing)
            return
        }
        guard reset else {
            next(after: completion)
            return
        }
        plan.connection.send("RSET", step: "RSET").assumeIsolated().whenComplete { result in
            switch result {
            case .failure(let error):
                self.end(after: completion, failure: "lost: " + String(String(describing: error).prefix(160)))
            case .success:
                self.next(after: completion)
            }
        }
    }

    private func end(after completion: RunState.Completion, failure: String) {
        _ = state.finish(completion, claimNext: false, now: completion.at)
        plan.connection.close()
        done.succeed(.failed(failure))
    }
}
