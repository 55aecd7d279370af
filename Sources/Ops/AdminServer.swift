import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Sockets

/// One accepted admin connection, already speaking HTTP/1.1 parts.
typealias AdminConnection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

/// The operator's HTTP endpoint: health, readiness, Prometheus metrics and the account table.
///
/// Bound up front (a taken port fails at start-up; tests learn the port), served as a
/// `Service` until graceful shutdown or `close()`. Every resource a client can claim is capped,
/// because the port may be reachable by more than the operator's scraper.
public final class AdminServer: Service, Sendable {
    public struct Limits: Sendable {
        /// Request body bytes read before answering 413; admin routes take no body at all.
        public var maxBodyBytes = 64 * 1024
        /// A connection that has not sent a whole request head this long after it was accepted
        /// is closed: a probe or scraper sends its head in one write, so only a stalled or
        /// hostile client is ever cut off, and it frees its slot quickly.
        public var headerTimeout: TimeAmount = .seconds(2)
        /// A connection is closed this long after it was accepted, idle or not: one request
        /// needs milliseconds, and a deadline (unlike an idle timer) also ends slow drips.
        public var connectionTimeout: TimeAmount = .seconds(30)
        /// Connections served at once. When all are taken, a new connection is still served and
        /// the oldest one that has not sent its whole request is closed instead (see
        /// `AdminConnectionSlots`); it is refused only when every slot is being answered.
        public var maxConnections = 512
        public init() {}
    }

    private let serverChannel: NIOAsyncChannel<AcceptedAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let router: AdminRouter
    private let limits: Limits
    private let logger: Logger
    private let connections: AdminConnectionTable

    /// The bound port (the one picked when bound with port 0).
    public var port: Int { serverChannel.channel.localAddress?.port ?? 0 }
    /// Admin connections being served now.
    var activeConnections: Int { connections.active }

    private init(serverChannel: NIOAsyncChannel<AcceptedAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>, router: AdminRouter, limits: Limits,
                 connections: AdminConnectionTable, logger: Logger) {
        self.serverChannel = serverChannel
        self.router = router
        self.limits = limits
        self.connections = connections
        self.logger = logger
    }

    public static func bind(host: String, port: Int, group: any EventLoopGroup, status: any AdminStatusSource,
                            metrics: PrometheusCollectorRegistry, logger: Logger,
                            limits: Limits = Limits()) async throws -> AdminServer {
        let address = try await ListenAddress.resolve(host: host, port: port)
        let connections = AdminConnectionTable(capacity: limits.maxConnections, logger: logger)
        let channel = try await ServerBootstrap(group: group)
            .acceptingIPv4(ifIPv6: address)
            // Room for a burst of connections between two accepts, so a probe's SYN is not the
            // one dropped while a flood is being accepted (the kernel caps it at somaxconn).
            .serverChannelOption(.backlog, value: Int32(clamping: max(64, limits.maxConnections)))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // TCP level: at the socket level option 1 is SO_DEBUG, which needs CAP_NET_ADMIN.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Decided here, on accept, rather than where `run` picks the connection up,
                    // so a flood is met at the rate the kernel hands connections over.
                    let id = connections.admit(channel)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminDeadlineHandler(
                        headerTimeout: limits.headerTimeout, connectionTimeout: limits.connectionTimeout,
                        onRequestComplete: { if let id { connections.requestCompleted(id) } }))
                    let connection = try AcceptedAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                    // Refused: handed on closed, so its exchange ends at once.
                    if id == nil { channel.close(promise: nil) }
                    return connection
                }
            }
        let server = AdminServer(serverChannel: channel, router: AdminRouter(status: status, metrics: metrics),
                                 limits: limits, connections: connections, logger: logger)
        logger.info("admin server listening", metadata: ["address": "\(ListenAddress.describe(channel.channel.localAddress))"])
        return server
    }

    public func run() async throws {
        let router = router
        let limits = limits
        let logger = logger
        try await withGracefulShutdownHandler {
            try await serverChannel.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        // Admission was decided on accept: a refused or evicted connection is
                        // already closed, and its exchange ends at once.
                        group.addTask {
                            // The task holds the box: releasing it closes the connection.
                            await AdminExchange(router: router, maxBodyBytes: limits.maxBodyBytes, logger: logger)
                                .serve(connection.connection)
                            withExtendedLifetime(connection) {}
                        }
                    }
                    // No longer listening: requests still in flight are cut short rather than
                    // holding shutdown for up to the connection timeout.
                    group.cancelAll()
                }
            }
        } onGracefulShutdown: { [serverChannel] in
            serverChannel.channel.close(promise: nil)
        }
        logger.info("admin server stopped")
    }

    /// Stops listening, which ends `run()`. Safe to call more than once, before or during `run()`.
    public func close() async {
        try? await serverChannel.channel.close()
    }
}

/// The admin connections open now: `AdminConnectionSlots` decides, this performs (closes the
/// connection it gives up) and logs the start of a flood once. Called from the connections'
/// event loops; the lock is held only for the decision.
final class AdminConnectionTable: Sendable {
    /// A number per accepted connection, never reused (a channel's address could be).
    typealias ID = UInt64

    private struct State {
        var slots: AdminConnectionSlots<ID>
        var channels: [ID: any Channel] = [:]
        var nextID: ID = 0
    }

    private let state: NIOLockedValueBox<State>
    private let logger: Logger

    init(capacity: Int, logger: Logger) {
        self.state = NIOLockedValueBox(State(slots: AdminConnectionSlots(capacity: capacity)))
        self.logger = logger
    }

    var active: Int { state.withLockedValue { $0.slots.count } }

    /// Registers a just-accepted connection and closes the one it displaces. Nil: refused,
    /// every slot is being answered; the caller closes it.
    func admit(_ channel: any Channel) -> ID? {
        let (id, admission, victim, capacity) = state.withLockedValue { state in
            let id = state.nextID
            state.nextID &+= 1
            let admission = state.slots.accept(id)
            var victim: (any Channel)?
            switch admission.decision {
            case .serve:
                state.channels[id] = channel
            case .serveEvicting(let evicted):
                victim = state.channels.removeValue(forKey: evicted)
                state.channels[id] = channel
            case .refuse:
                break
            }
            return (id, admission, victim, state.slots.capacity)
        }
        if admission.decision != .refuse {
            channel.closeFuture.whenComplete { [weak self] _ in self?.closed(id) }
        }
        victim?.close(promise: nil)
        if admission.startsPressure {
            let message: Logger.Message = admission.decision == .refuse
                ? "admin connection limit reached with every connection being answered; refusing new ones"
                : "admin connection limit reached; closing the oldest connections that have not sent a whole request"
            logger.warning(message, metadata: ["max_connections": "\(capacity)"])
        }
        return admission.decision == .refuse ? nil : id
    }

    func requestCompleted(_ id: ID) {
        state.withLockedValue { $0.slots.requestCompleted(id) }
    }

    private func closed(_ id: ID) {
        state.withLockedValue { state in
            state.slots.closed(id)
            state.channels[id] = nil
        }
    }
}

/// A connection's deadlines, kept on its event loop: closed when its request head has not fully
/// arrived `headerTimeout` after it was accepted, and in any case `connectionTimeout` after.
/// One timer per connection: at the header deadline it closes the connection or, the head being
/// there, re-arms for the rest of the connection deadline. Also reports the whole request
/// (head to end) to the slot table, after which the connection is being answered.
final class AdminDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let headerTimeout: TimeAmount
    private let connectionTimeout: TimeAmount
    private let onRequestComplete: () -> Void
    private var acceptedAt = NIODeadline.now()
    private var sawHead = false
    private var timer: Scheduled<Void>?

    init(headerTimeout: TimeAmount, connectionTimeout: TimeAmount, onRequestComplete: @escaping () -> Void) {
        self.headerTimeout = headerTimeout
        self.connectionTimeout = connectionTimeout
        self.onRequestComplete = onRequestComplete
    }

    func handlerAdded(context: ChannelHandlerContext) {
        acceptedAt = .now()
        arm(context, at: acceptedAt + min(headerTimeout, connectionTimeout))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: sawHead = true
        case .end: onRequestComplete()
        case .body: break
        }
        context.fireChannelRead(data)
    }

    private func arm(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.expired(context)
        }
    }

    private func expired(_ context: ChannelHandlerContext) {
        timer = nil
        let connectionDeadline = acceptedAt + connectionTimeout
        if sawHead, NIODeadline.now() < connectionDeadline {
            arm(context, at: connectionDeadline)
        } else {
            context.close(promise: nil)
        }
    }
}
