import NIOCore
import NIOPosix
import SMTPCore
import Sockets

/// The async view of one accepted SMTP client connection.
public typealias SMTPServerConnection = NIOAsyncChannel<[SMTPServerFrame], SMTPReply>

/// An accepted connection: handed to an async session, or already served by the channel
/// handlers the listener's `sessionHandlers` installed.
enum SMTPAcceptedConnection: Sendable {
    case async(AcceptedAsyncChannel<[SMTPServerFrame], SMTPReply>)
    case handled
}

/// A bound SMTP listening socket whose connections come out as `SMTPServerConnection`s, or are
/// served by channel handlers installed as each is accepted.
public final class SMTPListener: Sendable {
    /// Adds a session's handlers to an accepted channel (behind the framing handler), on its
    /// event loop and before its first read.
    public typealias SessionHandlers = @Sendable (any Channel) throws -> Void

    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var framing: SMTPServerFramer.Configuration
        public var idleTimeout: TimeAmount?
        public var backlog: Int32
        public var startTLS: SMTPServerFramingHandler.StartTLS?
        /// Implicit TLS ("port 465"): every connection is TLS from its first byte.
        public var implicitTLS: ServerTLS?

        public init(host: String = "127.0.0.1", port: Int = 2525, framing: SMTPServerFramer.Configuration = .init(),
                    idleTimeout: TimeAmount? = .minutes(5), backlog: Int32 = 1024,
                    startTLS: SMTPServerFramingHandler.StartTLS? = nil, implicitTLS: ServerTLS? = nil) {
            self.host = host
            self.port = port
            self.framing = framing
            self.idleTimeout = idleTimeout
            self.backlog = backlog
            self.startTLS = startTLS
            self.implicitTLS = implicitTLS
        }
    }

    private let serverChannel: NIOAsyncChannel<SMTPAcceptedConnection, Never>

    public var localAddress: SocketAddress? { serverChannel.channel.localAddress }
    public var port: Int { localAddress?.port ?? 0 }

    private init(serverChannel: NIOAsyncChannel<SMTPAcceptedConnection, Never>) {
        self.serverChannel = serverChannel
    }

    public static func bind(_ configuration: Configuration, group: any EventLoopGroup,
                            sessionHandlers: SessionHandlers? = nil) async throws -> SMTPListener {
        let address = try await ListenAddress.resolve(host: configuration.host, port: configuration.port)
        let channel = try await ServerBootstrap(group: group)
            .acceptingIPv4(ifIPv6: address)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // TCP level: at the socket level option 1 is SO_DEBUG, which needs CAP_NET_ADMIN.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            // NIO keeps up to maxMessagesPerRead receive buffers per connection, each as large as
            // the largest read so far: at the default 64 KB ceiling a thousand idle clients that
            // once sent a large message hold a quarter of a gigabyte.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 512, initial: 2048, maximum: 16 * 1024))
            .bind(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The certificate current now; a later swap serves later connections.
                    try configuration.implicitTLS?.addHandlers(to: channel.pipeline.syncOperations)
                    try channel.pipeline.syncOperations.addHandler(SMTPServerFramingHandler(
                        configuration: configuration.framing,
                        idleTimeout: configuration.idleTimeout,
                        startTLS: configuration.startTLS))
                    if let sessionHandlers {
                        try sessionHandlers(channel)
                        return SMTPAcceptedConnection.handled
                    }
                    return SMTPAcceptedConnection.async(try AcceptedAsyncChannel(wrappingChannelSynchronously: channel))
                }
            }
        return SMTPListener(serverChannel: channel)
    }

    /// Runs `session` for every accepted connection until the listener is closed, then waits
    /// for the sessions still running. With `sessionHandlers`, only accepts.
    public func run(_ session: @escaping @Sendable (SMTPServerConnection) async -> Void = { _ in }) async throws {
        try await serverChannel.executeThenClose { inbound in
            try await withThrowingDiscardingTaskGroup { group in
                for try await accepted in inbound {
                    guard case .async(let box) = accepted else { continue }
                    // The session runs on its channel's event loop: no hop per read, write or reply.
                    // The task holds the box: releasing it closes the connection.
                    group.addTask(executorPreference: EventLoopTaskExecutor.on(box.connection.channel.eventLoop)) {
                        await session(box.connection)
                        withExtendedLifetime(box) {}
                    }
                }
            }
        }
    }

    /// Stops accepting; running sessions carry on.
    public func close() async {
        try? await serverChannel.channel.close()
    }
}
