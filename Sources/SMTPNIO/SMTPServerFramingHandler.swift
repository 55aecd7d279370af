import NIOCore
import SMTPCore

/// Asks a server connection to say `reply` and close if it is the client's turn and the
/// client has sent nothing unanswered; ignored otherwise. Used to drain idle sessions.
public struct SMTPServerDrainEvent: Sendable {
    public var reply: SMTPReply
    public init(reply: SMTPReply) { self.reply = reply }
}

/// Server-side framing: bytes in, batches of `SMTPServerFrame` out; `SMTPReply` in, bytes out.
///
/// One inbound message is everything that could be framed from the bytes at hand, so the
/// session sees a client's pipelined group at once and can answer it with one flush. Every
/// reply written is reported to the framer, which decides what the next bytes are; while the
/// framer waits for a reply this handler withholds `read()` so a client cannot make us buffer.
public final class SMTPServerFramingHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = [SMTPServerFrame]
    public typealias OutboundIn = SMTPReply
    public typealias OutboundOut = ByteBuffer

    /// Puts TLS in front of this handler; called on the event loop right after a 220 answer
    /// to STARTTLS has been flushed, before any further byte is read.
    public typealias StartTLS = @Sendable (ChannelHandlerContext) throws -> Void

    private var framer: SMTPServerFramer
    private let startTLS: StartTLS?
    private let idleTimeout: TimeAmount?
    private var idleTimer: Scheduled<Void>?
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    /// Since when the client has not taken our replies (the channel is not writable).
    private var unwritableSince: NIODeadline?
    private var readPending = false
    /// The first reply (the greeting, or a refusal in its place) has been written.
    private var greeted = false
    /// Input came before the greeting; the connection is being closed and reads nothing more.
    private var rejected = false

    /// `idleTimeout`: how long the client may stay silent when it is its turn to speak; then
    /// it gets 421 4.4.2 and the connection closes. Time the session spends waiting for an
    /// upstream does not count.
    public init(configuration: SMTPServerFramer.Configuration = .init(), idleTimeout: TimeAmount? = nil, startTLS: StartTLS? = nil) {
        self.framer = SMTPServerFramer(configuration: configuration)
        self.startTLS = startTLS
        self.idleTimeout = idleTimeout
    }

    public func channelActive(context: ChannelHandlerContext) {
        armIdleTimer(context: context)
        context.fireChannelActive()
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armIdleTimer(context: context) }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        idleTimer = nil
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !rejected else { return }
        guard greeted else {
            // A client that talks before the 220 (a spam-bot signature) would take the greeting
            // as the reply to its first command and stay one reply off from then on.
            rejected = true
            closeWith(SMTPReply(554, "5.5.1", "Protocol error: input before the greeting"), context: context)
            return
        }
        framer.append(unwrapInboundIn(data))
        armIdleTimer(context: context)
        _ = deliver(context: context)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            unwritableSince = nil
        } else if unwritableSince == nil, let idleTimeout {
            // A client that sends and never reads fills our side with replies; it is given the
            // idle timeout to take them, like a client that sends nothing.
            let now = context.eventLoop.now
            unwritableSince = now
            if idleTimer == nil { scheduleIdleTimer(at: now + idleTimeout, context: context) }
        }
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let drain = event as? SMTPServerDrainEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // Only a client whose turn it is, with nothing sent we have not answered, can be told
        // goodbye without losing a reply; anyone else is left to the session.
        guard framer.isAwaitingClient, framer.bufferedBytes == 0, context.channel.isActive else { return }
        closeWith(drain.reply, context: context)
    }

    /// Notes activity; the one timer in flight looks at it when it fires. Rescheduling on every
    /// read and reply would cost a timer-heap insert and removal per command.
    private func armIdleTimer(context: ChannelHandlerContext) {
        guard let idleTimeout else { return }
        lastActivity = context.eventLoop.now
        if idleTimer == nil { scheduleIdleTimer(at: lastActivity + idleTimeout, context: context) }
    }

    private func scheduleIdleTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.idleTimerFired(context: context)
        }
    }

    private func idleTimerFired(context: ChannelHandlerContext) {
        idleTimer = nil
        guard let idleTimeout, context.channel.isActive else { return }
        let now = context.eventLoop.now
        let undrainedDeadline = unwritableSince.map { $0 + idleTimeout }
        if let undrainedDeadline, undrainedDeadline <= now {
            // Replies have not drained for the idle timeout: no reply could reach the client.
            context.close(promise: nil)
            return
        }
        let deadline = lastActivity + idleTimeout
        if deadline > now {
            scheduleIdleTimer(at: min(deadline, undrainedDeadline ?? deadline), context: context)
            return
        }
        // While the session still owes a reply, the silence is ours, not the client's; its
        // reply re-arms the timer.
        guard framer.isAwaitingClient else {
            if let undrainedDeadline { scheduleIdleTimer(at: undrainedDeadline, context: context) }
            return
        }
        closeWith(SMTPReply(421, "4.4.2", "Idle timeout, closing connection"), context: context)
    }

    private func closeWith(_ reply: SMTPReply, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64)
        reply.write(into: &buffer)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in
            boundContext.value.close(promise: nil)
        }
    }

    /// While the framer waits for a reply, reading goes on until this much is buffered.
    /// Withholding every read would cost two epoll_ctl calls per pause (after DATA and after
    /// each message); the threshold keeps a pipelining client cheap and a flooding one bounded.
    public static let maxBufferedWhileStopped = 64 * 1024

    /// Lines handed to the session and not answered yet, at most. A client may pipeline
    /// without limit (RFC 2920); past this many the rest waits in the framer, and once a read's
    /// worth is waiting there reading stops, so a session stuck on its provider holds a bounded
    /// amount of its client's input however fast the client sends.
    public static let maxUnansweredLines = 128

    public func read(context: ChannelHandlerContext) {
        if mustWithholdRead {
            readPending = true
        } else {
            context.read()
        }
    }

    private var mustWithholdRead: Bool {
        if framer.isStopped { return framer.bufferedBytes >= Self.maxBufferedWhileStopped }
        return framer.unansweredLines >= Self.maxUnansweredLines && framer.bufferedBytes > 0
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !rejected else {
            // The greeting lost its race with the client's early input: only the 554 goes out.
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let reply = unwrapOutboundIn(data)
        greeted = true
        var buffer = context.channel.allocator.buffer(capacity: 64)
        reply.write(into: &buffer)
        context.write(wrapOutboundOut(buffer), promise: promise)
        let wasStopped = framer.isStopped
        defer { if framer.isAwaitingClient { armIdleTimer(context: context) } }
        if framer.replyWritten(code: reply.code) == .startTLS {
            context.flush()
            do {
                guard let startTLS else { throw SMTPNIOError.tlsNotConfigured }
                try startTLS(context)
            } catch {
                context.fireErrorCaught(error)
                context.close(promise: nil)
                return
            }
        }
        let wasCapped = framer.unansweredLines + 1 >= Self.maxUnansweredLines
        guard (wasStopped && !framer.isStopped) || wasCapped else { return }
        // The reply released input held back while waiting for it.
        if deliver(context: context) {
            context.fireChannelReadComplete()
        }
        if readPending, !mustWithholdRead {
            readPending = false
            context.read()
        }
    }

    /// Fires one batch of frames if there is any; returns whether it did.
    private func deliver(context: ChannelHandlerContext) -> Bool {
        var frames: [SMTPServerFrame] = []
        while framer.unansweredLines < Self.maxUnansweredLines, let frame = framer.next() {
            frames.append(frame)
        }
        guard !frames.isEmpty else { return false }
        context.fireChannelRead(wrapInboundOut(frames))
        return true
    }
}

public enum SMTPNIOError: Error, Sendable, Hashable, CustomStringConvertible {
    case tlsNotConfigured
    case connectionClosed
    case timeout(String)
    case protocolViolation(String)
    /// The upstream sent bytes in plaintext after agreeing to STARTTLS (RFC 3207 section 6).
    case plaintextAfterStartTLS
    case unexpectedReply(SMTPReply)

    public var description: String {
        switch self {
        case .tlsNotConfigured: "TLS not configured"
        case .connectionClosed: "connection closed"
        case .timeout(let step): "timed out waiting for \(step)"
        case .protocolViolation(let detail): "protocol violation: \(detail)"
        case .plaintextAfterStartTLS: "plaintext data after STARTTLS"
        case .unexpectedReply(let reply): "unexpected reply \(reply)"
        }
    }
}
