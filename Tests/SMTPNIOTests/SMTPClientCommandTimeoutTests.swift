import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOSSL
import Testing
@testable import SMTPCore
@testable import SMTPNIO

/// The client handler's reply deadlines share one lazily re-armed timer; virtual time
/// (EmbeddedEventLoop) stands in for the clock, and a wrapped scheduler counts the timers.
@Suite struct SMTPClientCommandTimeoutTests {
    /// Counts the timers the handler schedules.
    final class CountingScheduler: Sendable {
        private let scheduled = NIOLockedValueBox(0)
        var count: Int { scheduled.withLockedValue { $0 } }

        var scheduler: CommandTimerScheduler {
            CommandTimerScheduler { [self] eventLoop, deadline, task in
                scheduled.withLockedValue { $0 += 1 }
                return eventLoop.scheduleTask(deadline: deadline, task)
            }
        }
    }

    let timers = CountingScheduler()
    let channel = EmbeddedChannel()

    /// A connection whose 220 greeting (asked for with a 30 s timeout) has arrived at time zero.
    private func greeted() throws {
        let greeting = channel.eventLoop.makePromise(of: SMTPReply.self)
        let handler = SMTPClientHandler(greetingPromise: greeting, greetingTimeout: .seconds(30), scheduler: timers.scheduler)
        try channel.pipeline.syncOperations.addHandler(handler)
        // Active, so that a timeout's close shows.
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        try channel.writeInbound(ByteBuffer(string: "220 hi\r\n"))
        #expect(try greeting.futureResult.wait().code == 220)
    }

    private func send(_ line: String, timeout: TimeAmount, step: String) throws -> EventLoopFuture<SMTPReply> {
        let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
        let request = SMTPClientRequest(bytes: ByteBuffer(string: line + "\r\n"), kind: .command(timeout: timeout, step: step), replyPromise: promise)
        try channel.writeOutbound(request)
        return promise.futureResult
    }

    /// The error a reply has failed with so far, if any, without waiting for it.
    private func failure(of reply: EventLoopFuture<SMTPReply>) -> (any Error)? {
        let error = NIOLockedValueBox<(any Error)?>(nil)
        reply.whenFailure { failure in error.withLockedValue { $0 = failure } }
        return error.withLockedValue { $0 }
    }

    private func advance(to seconds: Int64) {
        channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(0) + .seconds(seconds))
    }

    @Test func aReplyInTimeLetsTheNextCommandRunToItsOwnDeadline() throws {
        try greeted()
        let mail = try send("MAIL FROM:<a@b>", timeout: .seconds(10), step: "MAIL")
        advance(to: 5)
        try channel.writeInbound(ByteBuffer(string: "250 ok\r\n"))
        #expect(try mail.wait().code == 250)
        let rcpt = try send("RCPT TO:<c@d>", timeout: .seconds(10), step: "RCPT")
        advance(to: 14)
        // MAIL's deadline (10 s) has passed, but MAIL was answered.
        #expect(failure(of: rcpt) == nil)
        #expect(channel.isActive)
        advance(to: 15)
        #expect(throws: SMTPNIOError.timeout("RCPT")) { try rcpt.wait() }
        #expect(!channel.isActive)
    }

    @Test func manyPipelinedCommandsShareOneTimer() throws {
        try greeted()
        let replies = try (0..<100).map { try send("RCPT TO:<r\($0)@b>", timeout: .seconds(30), step: "RCPT") }
        try channel.writeInbound(ByteBuffer(string: String(repeating: "250 ok\r\n", count: 100)))
        for reply in replies { #expect(try reply.wait().code == 250) }
        #expect(timers.count == 1)
        // The timer fires with nothing pending: no timeout, and nothing to arm again for.
        advance(to: 60)
        #expect(channel.isActive)
        #expect(timers.count == 1)
        _ = try channel.finish()
    }

    @Test func aTimeoutFailsEveryPendingCommand() throws {
        try greeted()
        let mail = try send("MAIL FROM:<a@b>", timeout: .seconds(10), step: "MAIL")
        let rcpt = try send("RCPT TO:<c@d>", timeout: .seconds(10), step: "RCPT")
        let data = try send("DATA", timeout: .seconds(10), step: "DATA")
        advance(to: 10)
        for reply in [mail, rcpt, data] {
            #expect(throws: SMTPNIOError.timeout("MAIL")) { try reply.wait() }
        }
        #expect(!channel.isActive)
    }

    /// DATA pipelined behind MAIL has the shorter timeout: it times out on its own clock, as it
    /// did when every command had a timer of its own.
    @Test func aShorterTimeoutBehindALongerOneStillCounts() throws {
        try greeted()
        let mail = try send("MAIL FROM:<a@b>", timeout: .seconds(20), step: "MAIL")
        let data = try send("DATA", timeout: .seconds(5), step: "DATA")
        advance(to: 4)
        #expect(channel.isActive)
        advance(to: 5)
        #expect(throws: SMTPNIOError.timeout("DATA")) { try data.wait() }
        #expect(throws: SMTPNIOError.timeout("DATA")) { try mail.wait() }
    }

    /// STARTTLS's timeout starts again at its 220 and runs through the TLS handshake, past the
    /// deadline the timer was first armed for.
    @Test func theHandshakeTimesOutOnStartTLSTimeoutCountedFromThe220() throws {
        try greeted()
        let context = try NIOSSLContext(configuration: .makeClientConfiguration())
        let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
        let kind = SMTPClientRequest.Kind.startTLS(timeout: .seconds(30), context: context, serverHostname: "example.com")
        try channel.writeOutbound(SMTPClientRequest(bytes: ByteBuffer(string: "STARTTLS\r\n"), kind: kind, replyPromise: promise))
        advance(to: 20)
        try channel.writeInbound(ByteBuffer(string: "220 go ahead\r\n"))
        advance(to: 49)
        #expect(failure(of: promise.futureResult) == nil)
        #expect(channel.isActive)
        advance(to: 50)
        #expect(throws: SMTPNIOError.timeout("TLS handshake")) { try promise.futureResult.wait() }
        #expect(!channel.isActive)
    }
}
