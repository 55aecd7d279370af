import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore

/// An SMTP client connection to an upstream: connect, greeting, EHLO, STARTTLS or implicit
/// TLS, EHLO again; then pipelined commands and streamed bodies.
public final class SMTPClientConnection: Sendable {
    public enum TLSMode: Sendable {
        case startTLS(NIOSSLContext)
        case implicit(NIOSSLContext)
        /// Plaintext: only for loopback test peers; configuration refuses it elsewhere.
        case none
    }

    /// RFC 5321 4.5.3.2 values as defaults.
    public struct Timeouts: Sendable, Hashable {
        public var connect: TimeAmount = .seconds(30)
        public var greeting: TimeAmount = .minutes(5)
        public var command: TimeAmount = .minutes(5)
        public var dataStart: TimeAmount = .minutes(2)
        public var dataBlock: TimeAmount = .minutes(3)
        public var dataEnd: TimeAmount = .minutes(10)
        public init() {}
    }

    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var tls: TLSMode
        /// Name sent in EHLO.
        public var heloName: String
        public var timeouts: Timeouts

        public init(host: String, port: Int, tls: TLSMode, heloName: String = "localhost", timeouts: Timeouts = .init()) {
            self.host = host
            self.port = port
            self.tls = tls
            self.heloName = heloName
            self.timeouts = timeouts
        }

        /// SNI and certificate name: the host, unless it is an IP address (then the peer address is checked).
        var serverHostname: String? {
            (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
        }
    }

    public let channel: any Channel
    public let capabilities: EHLOCapabilities
    public let configuration: Configuration

    private init(channel: any Channel, capabilities: EHLOCapabilities, configuration: Configuration) {
        self.channel = channel
        self.capabilities = capabilities
        self.configuration = configuration
    }

    public var isActive: Bool { channel.isActive }
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Connects and runs the session up to the point where AUTH can be sent over TLS.
    public static func connect(_ configuration: Configuration, group: any EventLoopGroup) async throws -> SMTPClientConnection {
        let eventLoop = group.next()
        let greeting = eventLoop.makePromise(of: SMTPReply.self)
        let timeouts = configuration.timeouts
        let tls = configuration.tls
        let hostname = configuration.serverHostname
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(timeouts.connect)
                // TCP level: at the socket level option 1 is SO_DEBUG, which needs CAP_NET_ADMIN.
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try installHandlers(on: channel, tls: tls, serverHostname: hostname, greeting: greeting, timeouts: timeouts)
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            greeting.fail(error)
            throw error
        }
        do {
            let connection = try await handshake(channel: channel, greeting: greeting.futureResult, configuration: configuration)
            return connection
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Runs the same session over a stream socket that is already connected, such as one end
    /// of a socketpair whose other end is an in-process peer. No TCP options: it may not be TCP.
    public static func connect(connectedSocket: NIOBSDSocket.Handle, configuration: Configuration,
                               on eventLoop: any EventLoop) async throws -> SMTPClientConnection {
        let greeting = eventLoop.makePromise(of: SMTPReply.self)
        let (timeouts, tls, hostname) = (configuration.timeouts, configuration.tls, configuration.serverHostname)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try installHandlers(on: channel, tls: tls, serverHostname: hostname, greeting: greeting, timeouts: timeouts)
                    }
                }
                .withConnectedSocket(connectedSocket)
                .get()
        } catch {
            greeting.fail(error)
            throw error
        }
        do {
            return try await handshake(channel: channel, greeting: greeting.futureResult, configuration: configuration)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Implicit TLS first, then the codec, whose greeting promise is queued before any byte is read.
    private static func installHandlers(on channel: any Channel, tls: TLSMode, serverHostname: String?,
                                        greeting: EventLoopPromise<SMTPReply>, timeouts: Timeouts) throws {
        if case .implicit(let sslContext) = tls {
            try channel.pipeline.syncOperations.addHandler(makeTLSHandler(context: sslContext, serverHostname: serverHostname))
        }
        try channel.pipeline.syncOperations.addHandler(SMTPClientHandler(greetingPromise: greeting, greetingTimeout: timeouts.greeting))
    }

    /// A message body is encrypted in one go, and NIOSSL keeps its largest ciphertext buffer
    /// for the connection's life by default: with a thousand pooled upstreams that is a
    /// thousand copies of the largest message. One TLS record's worth is kept instead.
    static func makeTLSHandler(context: NIOSSLContext, serverHostname: String?) throws -> NIOSSLClientHandler {
        var configuration = NIOSSLHandler.Configuration()
        configuration.maximumPreservedOutboundBufferCapacity = 16 * 1024 + 256
        return try NIOSSLClientHandler(context: context, serverHostname: serverHostname, configuration: configuration)
    }

    private static func handshake(channel: any Channel, greeting: EventLoopFuture<SMTPReply>, configuration: Configuration) async throws -> SMTPClientConnection {
        let timeouts = configuration.timeouts
        let hello = try await greeting.get()
        guard hello.code == 220 else { throw SMTPNIOError.unexpectedReply(hello) }
        var capabilities = try await ehlo(channel: channel, configuration: configuration)
        if case .startTLS(let sslContext) = configuration.tls {
            guard capabilities.startTLS else {
                throw SMTPNIOError.protocolViolation("upstream does not offer STARTTLS")
            }
            let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
            let request = SMTPClientRequest(
                bytes: ByteBuffer(string: "STARTTLS\r\n"),
                kind: .startTLS(timeout: timeouts.command, context: sslContext, serverHostname: configuration.serverHostname),
                replyPromise: promise)
            channel.writeAndFlush(request).whenFailure { promise.fail($0) }
            let reply = try await promise.futureResult.get()
            guard reply.code == 220 else { throw SMTPNIOError.unexpectedReply(reply) }
            // RFC 3207: everything learnt before TLS is forgotten.
            capabilities = try await ehlo(channel: channel, configuration: configuration)
        }
        return SMTPClientConnection(channel: channel, capabilities: capabilities, configuration: configuration)
    }

    private static func ehlo(channel: any Channel, configuration: Configuration) async throws -> EHLOCapabilities {
        let reply = try await send(on: channel, "EHLO \(configuration.heloName)", timeout: configuration.timeouts.command, step: "EHLO", flush: true).get()
        guard reply.code == 250 else { throw SMTPNIOError.unexpectedReply(reply) }
        return EHLOCapabilities(ehloReply: reply)
    }

    private static func send(on channel: any Channel, _ line: String, timeout: TimeAmount, step: String, flush: Bool) -> EventLoopFuture<SMTPReply> {
        let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
        var bytes = channel.allocator.buffer(capacity: line.utf8.count + 2)
        bytes.writeString(line)
        bytes.writeStaticString("\r\n")
        let request = SMTPClientRequest(bytes: bytes, kind: .command(timeout: timeout, step: step), replyPromise: promise)
        if channel.eventLoop.inEventLoop, channel.isActive {
            // Active, on its own thread: the write reaches our handler, which answers the reply
            // promise whatever happens to the write, so no write promise (one future fewer per
            // command on the relay's hot path).
            if flush { channel.writeAndFlush(request, promise: nil) } else { channel.write(request, promise: nil) }
            return promise.futureResult
        }
        let written = flush ? channel.writeAndFlush(request) : channel.write(request)
        // On a closed channel the write never reaches our handler, so nobody else would
        // answer the reply promise (a second completion is ignored by NIO).
        written.whenFailure { promise.fail($0) }
        return promise.futureResult
    }

    /// Sends one command line; the reply arrives in order with any others in flight.
    /// With `flush: false` the line waits for the next flush, so a group goes out in one write.
    public func send(_ line: String, timeout: TimeAmount? = nil, step: String, flush: Bool = true) -> EventLoopFuture<SMTPReply> {
        Self.send(on: channel, line, timeout: timeout ?? configuration.timeouts.command, step: step, flush: flush)
    }

    public func flush() {
        channel.flush()
    }

    /// Writes body bytes exactly as given; returns once they reached the socket, which is
    /// what keeps relaying a large message flat in memory.
    public func sendBody(_ chunk: ByteBuffer) async throws {
        try await writeBody(chunk).get()
    }

    /// `sendBody` for a caller on the event loop: the future completes once the bytes reached
    /// the socket. A write the upstream does not take within the data-block timeout closes the
    /// connection (a peer that stopped reading would otherwise hold the session forever).
    public func writeBody(_ chunk: ByteBuffer) -> EventLoopFuture<Void> {
        let request = SMTPClientRequest(bytes: chunk, kind: .body, replyPromise: nil)
        let channel = channel
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(request, promise: promise)
        return boundedByDataBlockTimeout(promise.futureResult)
    }

    /// A body wait the upstream does not end within the data-block timeout closes the
    /// connection (a peer that stopped reading would otherwise hold the session forever).
    private func boundedByDataBlockTimeout(_ wait: EventLoopFuture<Void>) -> EventLoopFuture<Void> {
        let channel = channel
        let watchdog = channel.eventLoop.scheduleTask(in: configuration.timeouts.dataBlock) {
            channel.close(promise: nil)
        }
        wait.whenComplete { _ in watchdog.cancel() }
        return wait.flatMapErrorThrowing { _ in throw SMTPNIOError.connectionClosed }
    }

    /// Writes body bytes and returns nil while the upstream takes them at once; when its
    /// socket pushes back (the channel is not writable), returns a future that completes once
    /// it is writable again. A caller that waits for that future before its next chunk keeps a
    /// large message flat in memory without a promise per chunk. A peer that stays unwritable
    /// for the data-block timeout is closed and the future fails.
    /// Off the channel's event loop this is `writeBody` (writability read from another thread
    /// would let writes pile up in the loop's queue).
    public func streamBody(_ chunk: ByteBuffer) -> EventLoopFuture<Void>? {
        guard channel.eventLoop.inEventLoop else { return writeBody(chunk) }
        channel.writeAndFlush(SMTPClientRequest(bytes: chunk, kind: .body, replyPromise: nil), promise: nil)
        guard !channel.isWritable, channel.isActive else { return nil }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.triggerUserOutboundEvent(SMTPClientWritableEvent(), promise: promise)
        return boundedByDataBlockTimeout(promise.futureResult)
    }

    /// Queues body bytes without flushing or waiting: for the last chunk of a message, which
    /// the end-of-data line then flushes in the same write. A failed write fails that reply.
    public func queueBody(_ chunk: ByteBuffer) {
        channel.write(SMTPClientRequest(bytes: chunk, kind: .body, replyPromise: nil), promise: nil)
    }

    /// AUTH XOAUTH2 with an initial response. A 334 carries the provider's JSON error; RFC 7628
    /// says to answer it with an empty line, after which the final (failure) reply comes.
    public func authenticateXOAUTH2(email: String, accessToken: String) async throws -> SMTPReply {
        let response = SASL.xoauth2InitialResponse(email: email, accessToken: accessToken)
        let reply = try await send("AUTH XOAUTH2 \(response)", step: "AUTH").get()
        guard reply.code == 334 else { return reply }
        return try await send("", step: "AUTH").get()
    }

    /// QUIT politely (best effort, bounded), then close.
    public func quit() async {
        _ = try? await send("QUIT", timeout: .seconds(5), step: "QUIT").get()
        try? await channel.close()
    }

    public func close() {
        channel.close(promise: nil)
    }
}
