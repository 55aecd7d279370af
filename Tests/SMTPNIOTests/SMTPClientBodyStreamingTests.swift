import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPCore
import SMTPNIO
import TestSupport
import Testing

/// `streamBody`: body chunks go out without a promise each while the upstream takes them, and
/// the caller is made to wait only when the upstream's socket pushes back.
@Suite struct SMTPClientBodyStreamingTests {
    static let chunk = ByteBuffer(repeating: UInt8(ascii: "a"), count: 64 * 1024)

    /// Streams chunks on the connection's loop until one asks the caller to wait; returns how
    /// many went out and that wait. The loop is bounded: 4096 chunks (256 MiB) exceed any
    /// socket buffer loopback has.
    static func streamUntilPushedBack(_ client: SMTPClientConnection) async throws -> (Int, EventLoopFuture<Void>?) {
        try await client.channel.eventLoop.submit {
            for sent in 1...4096 {
                if let wait = client.streamBody(chunk) { return (sent, wait) }
            }
            return (4096, nil)
        }.get()
    }

    /// The future's result once it has one; nil if it never completes (a broken build fails
    /// the test instead of hanging it).
    static func outcome(of future: EventLoopFuture<Void>) async -> Result<Void, any Error>? {
        let result = NIOLockedValueBox<Result<Void, any Error>?>(nil)
        future.whenComplete { completed in result.withLockedValue { $0 = completed } }
        _ = await eventually { result.withLockedValue { $0 } != nil }
        return result.withLockedValue { $0 }
    }

    @Test func aPeerThatStopsReadingMakesTheWriterWaitUntilItReadsAgain() async throws {
        let peer = try await StallingPeer.start()
        let client = try await SMTPClientConnection.connect(.init(host: "127.0.0.1", port: peer.port, tls: .none),
                                                           group: MultiThreadedEventLoopGroup.singleton)
        defer { client.close() }
        let (sent, wait) = try await Self.streamUntilPushedBack(client)
        let pushedBack = try #require(wait, "4096 chunks of 64 KiB written to a peer that reads nothing, and no pushback")
        #expect(sent > 1, "the first chunk already waited: writes are not streamed")
        peer.resume()
        let outcome = await Self.outcome(of: pushedBack)
        #expect(outcome.map { (try? $0.get()) != nil } == true, "the wait did not end well once the peer read: \(String(describing: outcome))")
        #expect(client.isActive)
        try await peer.close()
    }

    @Test func aPeerThatNeverReadsAgainIsClosedAfterTheDataBlockTimeout() async throws {
        let peer = try await StallingPeer.start()
        var timeouts = SMTPClientConnection.Timeouts()
        timeouts.dataBlock = .milliseconds(200)
        let client = try await SMTPClientConnection.connect(.init(host: "127.0.0.1", port: peer.port, tls: .none, timeouts: timeouts),
                                                           group: MultiThreadedEventLoopGroup.singleton)
        let (_, wait) = try await Self.streamUntilPushedBack(client)
        let pushedBack = try #require(wait)
        let outcome = await Self.outcome(of: pushedBack)
        #expect(throws: SMTPNIOError.connectionClosed) { try #require(outcome).get() }
        #expect(await eventually { !client.isActive }, "the stalled upstream was not closed")
        try await peer.close()
    }

    @Test func theEndOfTheConnectionEndsTheWait() async throws {
        let peer = try await StallingPeer.start()
        let client = try await SMTPClientConnection.connect(.init(host: "127.0.0.1", port: peer.port, tls: .none),
                                                           group: MultiThreadedEventLoopGroup.singleton)
        let (_, wait) = try await Self.streamUntilPushedBack(client)
        let pushedBack = try #require(wait)
        client.close()
        let outcome = await Self.outcome(of: pushedBack)
        #expect(throws: SMTPNIOError.connectionClosed) { try #require(outcome).get() }
        try await peer.close()
    }
}

/// Greets, answers EHLO, then reads nothing until `resume()`.
final class StallingPeer: Sendable {
    let server: any Channel
    private let accepted = NIOLockedValueBox<(any Channel)?>(nil)
    private let resumed = NIOLockedValueBox(false)

    var port: Int { server.localAddress?.port ?? 0 }

    private init(server: any Channel) { self.server = server }

    static func start() async throws -> StallingPeer {
        let holder = NIOLockedValueBox<StallingPeer?>(nil)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.autoRead, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    holder.withLockedValue { $0 }?.accepted.withLockedValue { $0 = channel }
                    try channel.pipeline.syncOperations.addHandler(Handler(resumed: { holder.withLockedValue { $0 }?.resumed.withLockedValue { $0 } ?? false }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let peer = StallingPeer(server: server)
        holder.withLockedValue { $0 = peer }
        return peer
    }

    func resume() {
        resumed.withLockedValue { $0 = true }
        guard let channel = accepted.withLockedValue({ $0 }) else { return }
        channel.setOption(.autoRead, value: true).whenSuccess { channel.read() }
    }

    func close() async throws {
        try? await accepted.withLockedValue { $0 }?.close()
        try await server.close()
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private var answeredEHLO = false
        private let resumed: @Sendable () -> Bool

        init(resumed: @escaping @Sendable () -> Bool) { self.resumed = resumed }

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "220 ready\r\n")), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !answeredEHLO else { return }
            answeredEHLO = true
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "250 hello\r\n")), promise: nil)
            // From here on the socket's buffers fill up, unless resumed meanwhile.
            if !resumed() { _ = context.channel.setOption(.autoRead, value: false) }
        }
    }
}
