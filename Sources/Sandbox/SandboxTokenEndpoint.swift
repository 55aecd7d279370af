import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The fake provider's HTTP endpoint: HTTP/1.1 (keep-alive) on loopback, answering POST /token,
/// and the device, authorization, metadata and signJwt endpoints (`SandboxHTTPRouter`), from a
/// `SandboxTokenIssuer`.
public final class SandboxTokenEndpoint: Sendable {
    private let serverChannel: any Channel
    private let connections: SandboxConnectionTracker
    public let port: Int
    /// e.g. "http://127.0.0.1:PORT/token"
    public let url: String
    /// e.g. "http://127.0.0.1:PORT": the other endpoints are paths under it.
    public let baseURL: String

    private init(serverChannel: any Channel, connections: SandboxConnectionTracker, host: String, port: Int) {
        self.serverChannel = serverChannel
        self.connections = connections
        self.port = port
        let urlHost = host.contains(":") ? "[\(host)]" : host
        self.baseURL = "http://\(urlHost):\(port)"
        self.url = baseURL + SandboxTokenHTTPHandler.path
    }

    /// Binds on host:port (port 0 picks a free one).
    public static func start(issuer: SandboxTokenIssuer, host: String = "127.0.0.1", port: Int = 0,
                             group: any EventLoopGroup, logger: Logger) async throws -> SandboxTokenEndpoint {
        let connections = SandboxConnectionTracker()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // TCP level: at the socket level option 1 is SO_DEBUG, which needs CAP_NET_ADMIN.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(SandboxTokenHTTPHandler(issuer: issuer, logger: logger))
                    connections.track(channel)
                }
            }
            .bind(host: host, port: port)
            .get()
        guard let boundPort = channel.localAddress?.port else {
            try? await channel.close()
            throw SandboxTokenEndpointError.noLocalAddress
        }
        let endpoint = SandboxTokenEndpoint(serverChannel: channel, connections: connections, host: host, port: boundPort)
        // Assertions name the token URL as their audience; the issuer learns it here.
        issuer.setBaseURL(endpoint.baseURL)
        logger.debug("sandbox token endpoint listening", metadata: ["host": "\(host)", "port": "\(boundPort)"])
        return endpoint
    }

    /// How many TCP connections were accepted; tests use it to see keep-alive at work.
    public func acceptedConnectionCount() -> Int {
        connections.acceptedCount()
    }

    /// Stops listening and closes open keep-alive connections. Safe to call more than once.
    public func shutdown() async throws {
        do {
            try await serverChannel.close()
        } catch ChannelError.alreadyClosed {
            // Already shut down.
        }
        for channel in connections.stop() {
            try? await channel.close()
        }
    }
}

enum SandboxTokenEndpointError: Error {
    case noLocalAddress
}

/// Open child connections, so shutdown can close the ones clients keep alive.
final class SandboxConnectionTracker: Sendable {
    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var accepted = 0
        var stopped = false
    }

    private let state = NIOLockedValueBox(State())

    func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let admitted = state.withLockedValue { state in
            state.accepted += 1
            guard !state.stopped else { return false }
            state.open[id] = channel
            return true
        }
        guard admitted else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLockedValue { $0.open.removeValue(forKey: id) }
        }
    }

    func acceptedCount() -> Int {
        state.withLockedValue { $0.accepted }
    }

    /// Refuses further connections and hands back the open ones for closing.
    func stop() -> [any Channel] {
        state.withLockedValue { state in
            state.stopped = true
            defer { state.open.removeAll() }
            return Array(state.open.values)
        }
    }
}
