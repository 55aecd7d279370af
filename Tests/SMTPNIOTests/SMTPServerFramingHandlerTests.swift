import NIOCore
import NIOEmbedded
import NIOConcurrencyHelpers
import Testing
@testable import SMTPCore
@testable import SMTPNIO

@Suite struct SMTPServerFramingHandlerTests {
    /// A connection whose greeting has gone out, as every session starts.
    private func makeChannel(startTLS: SMTPServerFramingHandler.StartTLS? = nil, idleTimeout: TimeAmount? = nil,
                             before: ChannelHandler? = nil) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        if let before { try channel.pipeline.syncOperations.addHandler(before) }
        try channel.pipeline.syncOperations.addHandler(SMTPServerFramingHandler(idleTimeout: idleTimeout, startTLS: startTLS))
        try greet(channel)
        return channel
    }

    private func greet(_ channel: EmbeddedChannel) throws {
        try channel.writeOutbound(SMTPReply(220, "2.0.0", "ready"))
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "220 2.0.0 ready\r\n")
    }

    private func readFrames(_ channel: EmbeddedChannel) throws -> [SMTPServerFrame] {
        var all: [SMTPServerFrame] = []
        while let frames = try channel.readInbound(as: [SMTPServerFrame].self) { all += frames }
        return all
    }

    @Test func pipelinedCommandsArriveAsOneBatchAndRepliesAreEncoded() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "EHLO a\r\nNOOP\r\nRSET\r\n"))
        let batch = try channel.readInbound(as: [SMTPServerFrame].self)
        #expect(batch == [.command(ByteBuffer(string: "EHLO a")), .command(ByteBuffer(string: "NOOP")), .command(ByteBuffer(string: "RSET"))])
        try channel.writeOutbound(SMTPReply(code: 250, lines: ["x", "PIPELINING"]))
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "250-x\r\n250 PIPELINING\r\n")
        _ = try channel.finish()
    }

    @Test func drainEventSaysGoodbyeOnlyWhenItIsTheClientsTurnWithNothingUnanswered() throws {
        let goodbye = SMTPServerDrainEvent(reply: SMTPReply(421, "4.3.2", "Service shutting down"))
        let idle = try makeChannel()
        try idle.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        idle.pipeline.fireUserInboundEventTriggered(goodbye)
        #expect(try idle.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "421 4.3.2 Service shutting down\r\n")
        #expect(!idle.isActive)

        // DATA is waiting for its reply: the session still owes one, so the event is ignored.
        let busy = try makeChannel()
        try busy.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        try busy.writeInbound(ByteBuffer(string: "DATA\r\n"))
        _ = try readFrames(busy)
        busy.pipeline.fireUserInboundEventTriggered(goodbye)
        #expect(try busy.readOutbound(as: ByteBuffer.self) == nil)
        #expect(busy.isActive)
        _ = try busy.finish()
    }

    @Test func bodyIsFramedOnlyAfterThe354GoesOut() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"))
        #expect(try readFrames(channel) == [.command(ByteBuffer(string: "DATA"))])
        try channel.writeOutbound(SMTPReply(code: 354, lines: ["go"]))
        let frames = try readFrames(channel)
        #expect(frames.first == .data(ByteBuffer(string: "Subject: x\r\n\r\nbody\r\n")))
        guard case .endOfData(let summary) = frames.last else { Issue.record("no end of data"); return }
        #expect(summary.size == 20)
        try channel.writeOutbound(SMTPReply(250, "2.0.0", "ok"))
        #expect(try readFrames(channel) == [.command(ByteBuffer(string: "QUIT"))])
        _ = try channel.finish()
    }

    @Test func startTLSInstallsTLSAndDropsPlaintextSentWithIt() throws {
        let called = NIOLockedValueBox(0)
        let channel = try makeChannel { _ in called.withLockedValue { $0 += 1 } }
        try channel.writeInbound(ByteBuffer(string: "STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n"))
        #expect(try readFrames(channel) == [.command(ByteBuffer(string: "STARTTLS"))])
        try channel.writeOutbound(SMTPReply(220, "2.0.0", "Ready to start TLS"))
        #expect(called.withLockedValue { $0 } == 1)
        #expect(try readFrames(channel).isEmpty)
        try channel.writeInbound(ByteBuffer(string: "EHLO again\r\n"))
        #expect(try readFrames(channel) == [.command(ByteBuffer(string: "EHLO again"))])
        _ = try channel.finish()
    }

    @Test func silentClientGets421AfterTheIdleTimeoutButNotWhileWeOweAReply() throws {
        let channel = try makeChannel(idleTimeout: .seconds(300))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        try channel.writeInbound(ByteBuffer(string: "NOOP\r\n"))
        _ = try readFrames(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(301))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(channel.isActive)
        try channel.writeOutbound(SMTPReply(250, "2.0.0", "ok"))
        _ = try channel.readOutbound(as: ByteBuffer.self)
        channel.embeddedEventLoop.advanceTime(by: .seconds(299))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "421 4.4.2 Idle timeout, closing connection\r\n")
        #expect(!channel.isActive)
    }

    @Test func readsStopOnlyWhenTooMuchIsBufferedWhileWaitingForAReply() throws {
        let reads = NIOLockedValueBox(0)
        let channel = try makeChannel(before: ReadCounter(reads: reads))
        try channel.writeInbound(ByteBuffer(string: "DATA\r\n"))
        _ = try readFrames(channel)
        channel.read()
        #expect(reads.withLockedValue { $0 } == 1)
        try channel.writeInbound(ByteBuffer(repeating: UInt8(ascii: "x"), count: SMTPServerFramingHandler.maxBufferedWhileStopped))
        channel.read()
        #expect(reads.withLockedValue { $0 } == 1)
        try channel.writeOutbound(SMTPReply(code: 354, lines: ["go"]))
        #expect(reads.withLockedValue { $0 } == 2)
        _ = try channel.finish()
    }

    /// A client that talks before the 220 takes the greeting for the reply to its first
    /// command and is one reply off from then on (issue 13, item 8).
    @Test func inputBeforeTheGreetingGets554AndTheConnectionCloses() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(SMTPServerFramingHandler())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        try channel.writeInbound(ByteBuffer(string: "EHLO bot\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nbody\r\n.\r\n"))
        #expect(try readFrames(channel).isEmpty, "nothing sent before the greeting reaches the session")
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "554 5.5.1 Protocol error: input before the greeting\r\n")
        #expect(!channel.isActive)
        // The session's greeting, written after, does not follow the 554.
        #expect(throws: (any Error).self) { try channel.writeOutbound(SMTPReply(220, "2.0.0", "ready")) }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    }

    /// Replies that do not drain (a client that sends and never reads) close the connection
    /// after the idle timeout, though it is our turn to speak (issue 13, item 9).
    @Test func aClientThatNeverReadsIsClosedAfterTheIdleTimeout() throws {
        let channel = try makeChannel(idleTimeout: .seconds(300))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        try channel.writeInbound(ByteBuffer(string: "NOOP\r\nNOOP\r\n"))
        #expect(try readFrames(channel).count == 2)
        try channel.writeOutbound(SMTPReply(250, "2.0.0", "ok"))
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.advanceTime(by: .seconds(299))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test func repliesThatDrainInTimeKeepTheConnection() throws {
        let channel = try makeChannel(idleTimeout: .seconds(300))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        try channel.writeInbound(ByteBuffer(string: "NOOP\r\nNOOP\r\n"))
        _ = try readFrames(channel)
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.advanceTime(by: .seconds(200))
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        // The session still owes the second reply: its silence is not the client's.
        try channel.writeOutbound(SMTPReply(250, "2.0.0", "ok"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(400))
        #expect(channel.isActive)
    }

    /// A client flooding commands while its session waits (on a slow provider) gets at most
    /// `maxUnansweredLines` frames ahead of the replies, then reading stops (issue 13, item 10).
    @Test func aFloodWhileTheSessionWaitsIsHeldToABoundedAmount() throws {
        let reads = NIOLockedValueBox(0)
        let channel = try makeChannel(before: ReadCounter(reads: reads))
        let read = String(repeating: "NOOP\r\n", count: 16 * 1024 / 6)
        var delivered = 0
        for _ in 0..<64 {
            channel.read()
            try channel.writeInbound(ByteBuffer(string: read))
            delivered += try readFrames(channel).count
        }
        #expect(delivered == SMTPServerFramingHandler.maxUnansweredLines)
        let readsWhileStalled = reads.withLockedValue { $0 }
        #expect(readsWhileStalled <= 2, "reading goes on while the session answers nothing: \(readsWhileStalled) reads")

        // Answering releases the next lines and reading resumes.
        try channel.writeOutbound(SMTPReply(250, "2.0.0", "ok"))
        #expect(try readFrames(channel).count == 1)
        for _ in 0..<SMTPServerFramingHandler.maxUnansweredLines {
            try channel.writeOutbound(SMTPReply(250, "2.0.0", "ok"))
        }
        #expect(try readFrames(channel).count == SMTPServerFramingHandler.maxUnansweredLines)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}

private final class ReadCounter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = Any
    let reads: NIOLockedValueBox<Int>
    init(reads: NIOLockedValueBox<Int>) { self.reads = reads }
    func read(context: ChannelHandlerContext) {
        reads.withLockedValue { $0 += 1 }
        context.read()
    }
}
