#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import SMTPCore
import SMTPNIO

/// Opens `--dry-run`'s upstream connections: one end of a socketpair speaks `DryRunProvider`
/// in this process, the other is an ordinary `SMTPClientConnection`, so everything from the
/// client codec up runs as in production. No token is fetched and no provider contacted.
struct DryRunUpstream: Sendable {
    /// How long a connection lives before the pool retires it, as it would a provider's whose
    /// access token expires: an hour, the usual token lifetime.
    var connectionLifetime: Duration = .seconds(3600)
    var now: @Sendable () -> ContinuousClock.Instant = { .now }

    func open(on loop: any EventLoop, heloName: String, timeouts: SMTPClientConnection.Timeouts) async throws -> UpstreamConnection {
        let (providerEnd, relayEnd) = try Self.socketPair()
        do {
            _ = try await ClientBootstrap(group: loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(SMTPServerFramingHandler())
                        try channel.pipeline.syncOperations.addHandler(DryRunProviderHandler())
                    }
                }
                .withConnectedSocket(providerEnd)
                .get()
        } catch {
            // The provider's end may already belong to a channel that closed it; closing it
            // again could close a descriptor reused meanwhile. The relay's end is still ours.
            _ = close(relayEnd)
            throw error
        }
        let configuration = SMTPClientConnection.Configuration(host: "dry-run", port: 0, tls: .none, heloName: heloName, timeouts: timeouts)
        // Closing the relay's end (QUIT, pool retirement) closes the provider's end too.
        let client = try await SMTPClientConnection.connect(connectedSocket: relayEnd, configuration: configuration, on: loop)
        return UpstreamConnection(client: client, tokenExpiresAt: now() + connectionLifetime)
    }

    private static func socketPair() throws -> (NIOBSDSocket.Handle, NIOBSDSocket.Handle) {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else {
            throw IOError(errnoCode: errno, reason: "socketpair")
        }
        return (fds[0], fds[1])
    }
}

/// The provider's end of a dry-run connection: greets, then answers each frame from the
/// framing handler with `DryRunProvider`'s reply. Body bytes are read and dropped.
final class DryRunProviderHandler: ChannelInboundHandler {
    typealias InboundIn = [SMTPServerFrame]
    typealias OutboundOut = SMTPReply

    private var provider = DryRunProvider()

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(DryRunProvider.greeting), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        for frame in unwrapInboundIn(data) {
            switch frame {
            case .command(let line):
                let (reply, close) = provider.reply(to: String(buffer: line))
                guard close else {
                    context.write(wrapOutboundOut(reply), promise: nil)
                    continue
                }
                context.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
                return
            case .commandTooLong:
                context.write(wrapOutboundOut(SMTPReply(500, "5.5.2", "Line too long")), promise: nil)
            case .authResponse:
                context.write(wrapOutboundOut(SMTPReply(235, "2.7.0", "Accepted")), promise: nil)
            case .data, .dataAfterBareLineEnding:
                continue
            case .endOfData:
                context.write(wrapOutboundOut(provider.endOfData()), promise: nil)
            }
        }
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
