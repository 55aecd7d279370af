import NIOCore
import NIOSSL
import NIOTLS
import SMTPCore

/// One thing to send upstream: command bytes (or a body chunk), and whether a reply is due.
public struct SMTPClientRequest: Sendable {
    public enum Kind: Sendable {
        /// Expects one reply, within `timeout`.
        case command(timeout: TimeAmount, step: String)
        /// STARTTLS: on a 220 answer TLS goes in front before anything else is read.
        case startTLS(timeout: TimeAmount, context: NIOSSLContext, serverHostname: String?)
        /// Body bytes: no reply.
        case body
    }

    public var bytes: ByteBuffer
    public var kind: Kind
    public var replyPromise: EventLoopPromise<SMTPReply>?

    public init(bytes: ByteBuffer, kind: Kind, replyPromise: EventLoopPromise<SMTPReply>?) {
        self.bytes = bytes
        self.kind = kind
        self.replyPromise = replyPromise
    }
}

/// Asks the client handler to complete the event's promise once the channel is writable.
public struct SMTPClientWritableEvent: Sendable {
    public init() {}
}

/// Client-side SMTP codec with pipelining: requests go out in order, replies come back in the
/// same order and complete the promises queued for them.
public final class SMTPClientHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = SMTPClientRequest
    public typealias OutboundOut = ByteBuffer

    private struct Pending {
        var promise: EventLoopPromise<SMTPReply>
        /// When the reply is overdue, counted from when the command was written.
        var deadline: NIODeadline
        var step: String
        var startTLS: (context: NIOSSLContext, hostname: String?, timeout: TimeAmount)?
    }

    /// The 220 to STARTTLS, held until the handshake completes: the next command then goes out
    /// only over TLS, and a failed handshake fails STARTTLS itself with the TLS error (otherwise
    /// the command written next could fail first, with nothing but "I/O on closed channel").
    private var handshake: (promise: EventLoopPromise<SMTPReply>, reply: SMTPReply, deadline: NIODeadline)?

    /// RFC 5321 allows 512 octets per reply line; leave room for chatty servers, bounded.
    public static let maxReplyLineLength = 4096

    private var buffer = ByteBuffer()
    private var splitter = SMTPLineSplitter()
    private var parser = SMTPReplyParser()
    private var pending = CircularBuffer<Pending>()
    private var failure: (any Error)?
    private var timer: CommandDeadlineTimer
    /// Body writers waiting for the channel to take more bytes (`SMTPClientWritableEvent`).
    private var writableWaiters: [EventLoopPromise<Void>] = []

    private let greeting: (promise: EventLoopPromise<SMTPReply>, timeout: TimeAmount)?

    /// The greeting arrives unasked, possibly before connect() returns, so its promise is
    /// queued as soon as the handler is in the pipeline.
    public convenience init(greetingPromise: EventLoopPromise<SMTPReply>?, greetingTimeout: TimeAmount = .minutes(5)) {
        self.init(greetingPromise: greetingPromise, greetingTimeout: greetingTimeout, scheduler: .eventLoop)
    }

    init(greetingPromise: EventLoopPromise<SMTPReply>?, greetingTimeout: TimeAmount, scheduler: CommandTimerScheduler) {
        self.greeting = greetingPromise.map { ($0, greetingTimeout) }
        self.timer = CommandDeadlineTimer(scheduler: scheduler)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if let greeting {
            enqueue(context: context, promise: greeting.promise, timeout: greeting.timeout, step: "greeting", startTLS: nil)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        failAll(SMTPNIOError.connectionClosed)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            request.replyPromise?.fail(failure)
            promise?.fail(failure)
            return
        }
        if let replyPromise = request.replyPromise {
            switch request.kind {
            case .command(let timeout, let step):
                enqueue(context: context, promise: replyPromise, timeout: timeout, step: step, startTLS: nil)
            case .startTLS(let timeout, let sslContext, let hostname):
                enqueue(context: context, promise: replyPromise, timeout: timeout, step: "STARTTLS", startTLS: (sslContext, hostname, timeout))
            case .body:
                break
            }
        }
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    /// `SMTPClientWritableEvent`: its promise completes once the channel is writable (at once
    /// if it is), and fails with the connection.
    public func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is SMTPClientWritableEvent else {
            return context.triggerUserOutboundEvent(event, promise: promise)
        }
        guard let promise else { return }
        if let failure {
            promise.fail(failure)
        } else if context.channel.isWritable {
            promise.succeed()
        } else {
            writableWaiters.append(promise)
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !writableWaiters.isEmpty {
            let waiters = writableWaiters
            writableWaiters.removeAll()
            for waiter in waiters { waiter.succeed() }
        }
        context.fireChannelWritabilityChanged()
    }

    private func enqueue(context: ChannelHandlerContext, promise: EventLoopPromise<SMTPReply>, timeout: TimeAmount, step: String, startTLS: (context: NIOSSLContext, hostname: String?, timeout: TimeAmount)?) {
        let deadline = context.eventLoop.now + timeout
        pending.append(Pending(promise: promise, deadline: deadline, step: step, startTLS: startTLS))
        armTimer(for: deadline, context: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        while failure == nil, let line = splitter.next(from: &buffer, maxLength: Self.maxReplyLineLength) {
            guard case .line(let bytes) = line else {
                fail(context: context, error: SMTPNIOError.protocolViolation("reply line too long"))
                return
            }
            let reply: SMTPReply?
            do {
                reply = try parser.feed(bytes.readableBytesView)
            } catch {
                fail(context: context, error: SMTPNIOError.protocolViolation("malformed reply: \(error)"))
                return
            }
            guard let reply else { continue }
            guard let head = pending.popFirst() else {
                // Unasked replies (a 421 on idle timeout) mean the server is leaving.
                fail(context: context, error: SMTPNIOError.unexpectedReply(reply))
                return
            }
            if let (sslContext, hostname, timeout) = head.startTLS, reply.code == 220 {
                guard buffer.readableBytes == 0, !parser.isMidReply else {
                    head.promise.fail(SMTPNIOError.plaintextAfterStartTLS)
                    fail(context: context, error: SMTPNIOError.plaintextAfterStartTLS)
                    return
                }
                do {
                    let tls = try SMTPClientConnection.makeTLSHandler(context: sslContext, serverHostname: hostname)
                    try context.pipeline.syncOperations.addHandler(tls, position: .first)
                } catch {
                    head.promise.fail(error)
                    fail(context: context, error: error)
                    return
                }
                // STARTTLS's own timeout goes on through the handshake.
                let deadline = context.eventLoop.now + timeout
                handshake = (head.promise, reply, deadline)
                armTimer(for: deadline, context: context)
                continue
            }
            head.promise.succeed(reply)
        }
        if buffer.readableBytes == 0 {
            buffer.clear()
        } else if buffer.readerIndex > 4096 {
            // Replies that keep arriving split mid-line must not grow the buffer for ever.
            buffer.discardReadBytes()
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent, let (promise, reply, _) = handshake {
            handshake = nil
            promise.succeed(reply)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, error: error)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        failAll(SMTPNIOError.connectionClosed)
        context.fireChannelInactive()
    }

    private func armTimer(for deadline: NIODeadline, context: ChannelHandlerContext) {
        // Checked before the closure is made: most commands find the timer already early enough.
        guard !timer.firesBy(deadline) else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer.arm(for: deadline, on: context.eventLoop) {
            let (handler, context) = bound.value
            handler.timerFired(context: context)
        }
    }

    /// Replies may have come in since the timer was armed, so the deadlines that count are the
    /// ones pending now: one passed fails the connection as that step's timeout; otherwise the
    /// timer goes again for the earliest.
    private func timerFired(context: ChannelHandlerContext) {
        timer.fired()
        guard failure == nil, let (deadline, step) = earliestDeadline() else { return }
        if deadline <= context.eventLoop.now {
            fail(context: context, error: SMTPNIOError.timeout(step))
        } else {
            armTimer(for: deadline, context: context)
        }
    }

    /// Not always the head's: a command pipelined behind another may have a shorter timeout
    /// (DATA behind MAIL and RCPT), and it times out on its own clock as if it had its own timer.
    private func earliestDeadline() -> (NIODeadline, String)? {
        var earliest = handshake.map { ($0.deadline, "TLS handshake") }
        for command in pending where earliest.map({ command.deadline < $0.0 }) ?? true {
            earliest = (command.deadline, command.step)
        }
        return earliest
    }

    private func fail(context: ChannelHandlerContext, error: any Error) {
        guard failure == nil else { return }
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        if failure == nil { failure = error }
        timer.cancel()
        if let (promise, _, _) = handshake {
            handshake = nil
            promise.fail(error)
        }
        while let head = pending.popFirst() {
            head.promise.fail(error)
        }
        let waiters = writableWaiters
        writableWaiters.removeAll()
        for waiter in waiters { waiter.fail(error) }
    }
}
