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
        /// A connection is closed this long after it was accepted, idle or not: one request
        /// needs milliseconds, and a deadline (unlike an idle timer) also ends slow drips.
        public var connectionTimeout: TimeAmount = .seconds(30)
        /// Connections served at once; further ones are closed on accept.
        public var maxConnections = 64
        public init() {}
    }

    private let serverChannel: NIOAsyncChannel<AdminConnection, Never>
    private let router: AdminRouter
    private let limits: Limits
    private let logger: Logger
    private let connections = AdminConnectionCounter()

    /// The bound port (the one picked when bound with port 0).
    public var port: Int { serverChannel.channel.localAddress?.port ?? 0 }
    /// Admin connections being served now.
    var activeConnections: Int { connections.active }

    private init(serverChannel: NIOAsyncChannel<AdminConnection, Never>, router: AdminRouter, limits: Limits, logger: Logger) {
        self.serverChannel = serverChannel
        self.router = router
        self.limits = limits
        self.logger = logger
    }

    public static func bind(host: String, port: Int, group: any EventLoopGroup, status: any AdminStatusSource,
                            metrics: PrometheusCollectorRegistry, logger: Logger,
                            limits: Limits = Limits()) async throws -> AdminServer {
        let timeout = limits.connectionTimeout
        let address = try await ListenAddress.resolve(host: host, port: port)
        let channel = try await ServerBootstrap(group: group)
            .acceptingIPv4(ifIPv6: address)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // TCP level: at the socket level option 1 is SO_DEBUG, which needs CAP_NET_ADMIN.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Armed before the connection is counted, so refused and stuck ones alike go away.
                    let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
                    channel.closeFuture.whenComplete { _ in deadline.cancel() }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try AdminConnection(wrappingChannelSynchronously: channel)
                }
            }
        let server = AdminServer(serverChannel: channel, router: AdminRouter(status: status, metrics: metrics),
                                 limits: limits, logger: logger)
        logger.info("admin server listening", metadata: ["address": "\(ListenAddress.describe(channel.channel.localAddress))"])
        return server
    }

    public func run() async throws {
        let router = router
        let limits = limits
        let logger = logger
        let connections = connections
        try await withGracefulShutdownHandler {
            try await serverChannel.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        guard connections.enter(limit: limits.maxConnections) else {
                            logger.warning("admin connection refused: connection limit reached",
                                           metadata: ["max_connections": "\(limits.maxConnections)"])
                            try? await connection.executeThenClose { _, _ in }
                            continue
                        }
                        group.addTask {
                            defer { connections.leave() }
                            await AdminExchange(router: router, maxBodyBytes: limits.maxBodyBytes, logger: logger)
                                .serve(connection)
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

/// Admin connections open now, against the ceiling.
final class AdminConnectionCounter: Sendable {
    private let count = NIOLockedValueBox(0)

    var active: Int { count.withLockedValue { $0 } }

    func enter(limit: Int) -> Bool {
        count.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func leave() {
        count.withLockedValue { $0 -= 1 }
    }
}
