import Logging
import NIOConcurrencyHelpers
import NIOCore
import Ops
import Resilience
import SMTPCore
import SMTPNIO

/// Puts a relay session on each accepted connection, on its event loop before its first read:
/// registered for the drain, logged with its own id, or refused at the connection limit.
struct RelaySessionInstaller: Sendable {
    let accounts: RelayAccounts
    let sessions: SessionRegistry
    let loginFailures: LoginFailureBudget
    let metrics: any RelayMetrics
    let logger: Logger
    let maxConnections: Int
    /// Known once the listener is bound (whether AUTH needs TLS depends on the bound address);
    /// a connection in the moment before hears 421 and retries.
    let sessionConfiguration = NIOLockedValueBox<RelaySessionConfiguration?>(nil)

    static let notReady = SMTPReply(421, "4.3.2", "Service not ready yet, try again shortly")

    func install(on channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        guard let configuration = sessionConfiguration.withLockedValue({ $0 }) else {
            return try pipeline.addHandler(RefusingHandler(reply: Self.notReady))
        }
        guard let id = sessions.register(channel, limit: maxConnections) else {
            // Refusing costs a write and a close, so a connection flood cannot exhaust memory.
            let draining = sessions.isDraining
            if draining {
                logger.info("client connection refused: shutting down")
            } else {
                logger.warning("client connection refused: connection limit reached", metadata: ["max_connections": "\(maxConnections)"])
            }
            return try pipeline.addHandler(RefusingHandler(reply: draining ? SessionRegistry.goodbye : RelayServer.tooManyConnections))
        }
        metrics.clientSessionOpened()
        var sessionLogger = logger
        sessionLogger[metadataKey: "session"] = "\(SessionID.next())"
        if let remote = channel.remoteAddress {
            sessionLogger[metadataKey: "client"] = "\(remote.ipAddress ?? "?"):\(remote.port ?? 0)"
        }
        let sessions = sessions
        let metrics = metrics
        let environment = RelaySessionHandler.Environment(
            accounts: accounts, configuration: configuration, logger: sessionLogger,
            drain: SessionDrain(registry: sessions, id: id), loginFailures: loginFailures, metrics: metrics,
            clientAddress: RelayServer.failureBudgetAddress(channel.remoteAddress),
            onClose: {
                sessions.unregister(id)
                metrics.clientSessionClosed()
            })
        try pipeline.addHandler(RelaySessionHandler(environment))
    }
}

/// Says one reply as the connection opens, then closes it.
final class RefusingHandler: ChannelInboundHandler {
    typealias InboundIn = [SMTPServerFrame]
    typealias OutboundOut = SMTPReply

    private let reply: SMTPReply

    init(reply: SMTPReply) {
        self.reply = reply
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
