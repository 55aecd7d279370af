import NIOCore
import NIOEmbedded
import NIOSSL
import NIOTLS
import Testing
@testable import SMTPCore
@testable import SMTPNIO

@Suite struct SMTPClientHandlerTests {
    private func makeChannel() throws -> (EmbeddedChannel, EventLoopFuture<SMTPReply>) {
        let channel = EmbeddedChannel()
        let greeting = channel.eventLoop.makePromise(of: SMTPReply.self)
        try channel.pipeline.syncOperations.addHandler(SMTPClientHandler(greetingPromise: greeting, greetingTimeout: .seconds(30)))
        return (channel, greeting.futureResult)
    }

    private func send(_ channel: EmbeddedChannel, _ line: String, kind: SMTPClientRequest.Kind = .command(timeout: .seconds(30), step: "test")) throws -> EventLoopFuture<SMTPReply> {
        let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
        try channel.writeOutbound(SMTPClientRequest(bytes: ByteBuffer(string: line + "\r\n"), kind: kind, replyPromise: promise))
        return promise.futureResult
    }

    @Test(arguments: [1, 4, 1000])
    func pipelinedRepliesCompleteInOrderWhateverTheChunking(chunk: Int) throws {
        let (channel, greeting) = try makeChannel()
        let mail = try send(channel, "MAIL FROM:<a@b>")
        let rcpt = try send(channel, "RCPT TO:<c@d>")
        let data = try send(channel, "DATA")
        let input = Array("220 hello\r\n250 2.1.0 ok\r\n550-5.1.1 no\r\n550 5.1.1 such user\r\n354 go\r\n".utf8)
        for start in stride(from: 0, to: input.count, by: chunk) {
            try channel.writeInbound(ByteBuffer(bytes: input[start..<min(start + chunk, input.count)]))
        }
        #expect(try greeting.wait().code == 220)
        #expect(try mail.wait() == SMTPReply(code: 250, lines: ["2.1.0 ok"]))
        #expect(try rcpt.wait() == SMTPReply(code: 550, lines: ["5.1.1 no", "5.1.1 such user"]))
        #expect(try data.wait().code == 354)
        _ = try channel.finish()
    }

    @Test func plaintextAfterThe220ToStartTLSKillsTheConnection() throws {
        let (channel, greeting) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "220 hi\r\n"))
        _ = try greeting.wait()
        let context = try NIOSSLContext(configuration: .makeClientConfiguration())
        let startTLS = try send(channel, "STARTTLS", kind: .startTLS(timeout: .seconds(30), context: context, serverHostname: "example.com"))
        _ = try? channel.writeInbound(ByteBuffer(string: "220 go ahead\r\n250 injected\r\n"))
        #expect(throws: SMTPNIOError.plaintextAfterStartTLS) { try startTLS.wait() }
        #expect(!channel.isActive)
    }

    /// The 220 to STARTTLS completes only once the TLS handshake has: a handshake that fails
    /// (an untrusted certificate) fails STARTTLS with the TLS error, not the next command with
    /// "I/O on closed channel", whichever of the two the event loop gets to first.
    private func startTLSAnswered(_ channel: EmbeddedChannel) throws -> EventLoopFuture<SMTPReply> {
        try channel.writeInbound(ByteBuffer(string: "220 hi\r\n"))
        let context = try NIOSSLContext(configuration: .makeClientConfiguration())
        let startTLS = try send(channel, "STARTTLS", kind: .startTLS(timeout: .seconds(30), context: context, serverHostname: "example.com"))
        try channel.writeInbound(ByteBuffer(string: "220 go ahead\r\n"))
        return startTLS
    }

    @Test func startTLSCompletesWhenTheHandshakeHas() throws {
        let (channel, _) = try makeChannel()
        let startTLS = try startTLSAnswered(channel)
        var completed: SMTPReply?
        startTLS.whenSuccess { completed = $0 }
        #expect(completed == nil)
        channel.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: nil))
        #expect(completed?.code == 220)
        _ = try? channel.finish()
    }

    @Test func aFailedHandshakeFailsStartTLSWithTheTLSError() throws {
        let (channel, _) = try makeChannel()
        let startTLS = try startTLSAnswered(channel)
        channel.pipeline.fireErrorCaught(NIOSSLError.handshakeFailed(.sslError([])))
        #expect(throws: NIOSSLError.self) { try startTLS.wait() }
        #expect(!channel.isActive)
    }

    @Test func aHandshakeThatNeverEndsTimesOut() throws {
        let (channel, _) = try makeChannel()
        let startTLS = try startTLSAnswered(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(31))
        #expect(throws: SMTPNIOError.timeout("TLS handshake")) { try startTLS.wait() }
        #expect(!channel.isActive)
    }

    @Test func timeoutFailsTheCommandAndClosesTheConnection() throws {
        let (channel, greeting) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "220 hi\r\n"))
        _ = try greeting.wait()
        let mail = try send(channel, "MAIL FROM:<a@b>", kind: .command(timeout: .seconds(10), step: "MAIL"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(throws: SMTPNIOError.timeout("MAIL")) { try mail.wait() }
        #expect(!channel.isActive)
    }

    @Test func unaskedReplyAndGarbageFailTheConnection() throws {
        let (channel, greeting) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "220 hi\r\n421 4.4.2 idle timeout\r\n"))
        _ = try greeting.wait()
        #expect(!channel.isActive)

        let (second, secondGreeting) = try makeChannel()
        _ = try? second.writeInbound(ByteBuffer(string: "hello there\r\n"))
        #expect(throws: SMTPNIOError.self) { try secondGreeting.wait() }
    }
}
