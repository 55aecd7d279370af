import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import OAuth2
import Sockets

/// The listener on 127.0.0.1 that receives the browser's redirect for `authorize --provider gmail`.
///
/// Bounded everywhere a peer could stretch it: the head of each request (`LoopbackRequestHead`),
/// how many connections are open at once (browsers open spare ones that never send anything),
/// how long each may stay idle, how many are accepted in all, and the whole wait.
final class AuthorizeLoopbackListener: Sendable {
    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    struct Limits: Sendable {
        var maxOpenConnections = 16
        var maxConnections = 256
        var connectionIdleTimeout: Duration = .seconds(30)
    }

    /// What happened while waiting, as the run reports it.
    enum Event: Sendable {
        /// A request to the callback with the wrong state, answered 400 and otherwise ignored.
        case refusedRedirect
        case finished(Result<String, ConsentFailure>)
    }

    private let serverChannel: NIOAsyncChannel<AcceptedAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let limits: Limits

    var port: Int { serverChannel.channel.localAddress?.port ?? 0 }

    private init(serverChannel: NIOAsyncChannel<AcceptedAsyncChannel<ByteBuffer, ByteBuffer>, Never>, limits: Limits) {
        self.serverChannel = serverChannel
        self.limits = limits
    }

    /// Loopback only: the code must never be reachable from the network.
    static func bind(port: Int, limits: Limits = Limits(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> AuthorizeLoopbackListener {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try AcceptedAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return AuthorizeLoopbackListener(serverChannel: channel, limits: limits)
    }

    /// Serves requests until one brings the redirect for `authorization` (its code, or the
    /// provider's refusal), or `timeout` passes. Closes the listener before returning.
    func waitForCode(_ authorization: LoopbackAuthorization, timeout: Duration,
                     onEvent: @escaping @Sendable (Event) -> Void = { _ in }) async throws -> String {
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let limits = self.limits
        let serverChannel = self.serverChannel
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await serverChannel.executeThenClose { inbound in
                        try await withThrowingDiscardingTaskGroup { connections in
                            let open = NIOLockedValueBox(0)
                            var accepted = 0
                            for try await connection in inbound {
                                accepted += 1
                                guard accepted <= limits.maxConnections else {
                                    continuation.yield(.finished(.failure(.malformed("more than \(limits.maxConnections) connections to the loopback listener without the redirect"))))
                                    return
                                }
                                let admitted = open.withLockedValue { count in
                                    guard count < limits.maxOpenConnections else { return false }
                                    count += 1
                                    return true
                                }
                                guard admitted else {
                                    connection.connection.channel.close(promise: nil)
                                    continue
                                }
                                connections.addTask {
                                    defer { open.withLockedValue { $0 -= 1 } }
                                    // The task holds the box: releasing it closes the connection.
                                    await Self.serve(connection.connection, authorization: authorization, idleTimeout: limits.connectionIdleTimeout,
                                                     continuation: continuation)
                                    withExtendedLifetime(connection) {}
                                }
                            }
                        }
                    }
                } catch is CancellationError {
                } catch {
                    continuation.yield(.finished(.failure(.unavailable("the loopback listener failed: \(error)"))))
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                continuation.yield(.finished(.failure(.expired("no redirect arrived within \(timeout.components.seconds) s; run authorize again"))))
            }
            defer {
                group.cancelAll()
                serverChannel.channel.close(promise: nil)
            }
            for await event in events {
                onEvent(event)
                if case .finished(let result) = event { return try result.get() }
            }
            throw CancellationError()
        }
    }

    static func serve(_ connection: Connection, authorization: LoopbackAuthorization, idleTimeout: Duration,
                      continuation: AsyncStream<Event>.Continuation) async {
        try? await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await connection.executeThenClose { inbound, outbound in
                    var received: [UInt8] = []
                    for try await chunk in inbound {
                        received += chunk.readableBytesView.prefix(LoopbackRequestHead.maxBytes + 4 - received.count)
                        let response: AuthorizeRedirectPage
                        switch LoopbackRequestHead.parse(received) {
                        case .incomplete:
                            continue
                        case .tooLarge:
                            response = .tooLarge
                        case .malformed:
                            response = .badRequest
                        case .request(let method, let target):
                            guard method == "GET" else {
                                response = .methodNotAllowed
                                break
                            }
                            switch authorization.outcome(forTarget: target) {
                            case .notTheRedirect:
                                response = .notFound
                            case .stateMismatch:
                                response = .stateMismatch
                                continuation.yield(.refusedRedirect)
                            case .providerError(let failure):
                                response = .refused
                                try? await outbound.write(response.buffer)
                                continuation.yield(.finished(.failure(failure)))
                                return
                            case .code(let code):
                                response = .received
                                // Written before the run goes on, so the browser shows it even
                                // though the listener closes right after.
                                try? await outbound.write(response.buffer)
                                continuation.yield(.finished(.success(code)))
                                return
                            }
                        }
                        try await outbound.write(response.buffer)
                        return
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: idleTimeout)
                throw CancellationError()
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

/// The few pages the listener answers with. Fixed text: nothing from the request is echoed, so
/// there is nothing to inject.
enum AuthorizeRedirectPage {
    case received, refused, stateMismatch, notFound, badRequest, methodNotAllowed, tooLarge

    var status: String {
        switch self {
        case .received, .refused: "200 OK"
        case .stateMismatch, .badRequest: "400 Bad Request"
        case .notFound: "404 Not Found"
        case .methodNotAllowed: "405 Method Not Allowed"
        case .tooLarge: "431 Request Header Fields Too Large"
        }
    }

    var text: String {
        switch self {
        case .received: "xoauth2-proxy received the authorization. You can close this tab and return to the terminal."
        case .refused: "The authorization was refused. See the terminal."
        case .stateMismatch: "This redirect does not belong to the authorization xoauth2-proxy is waiting for (state mismatch). It was ignored."
        case .notFound: "Not found."
        case .badRequest: "Bad request."
        case .methodNotAllowed: "Method not allowed."
        case .tooLarge: "Request head too large."
        }
    }

    var buffer: ByteBuffer {
        let body = "<!doctype html><meta charset=utf-8><title>xoauth2-proxy</title><p>\(text)</p>\n"
        return ByteBuffer(string: "HTTP/1.1 \(status)\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n" + body)
    }
}
