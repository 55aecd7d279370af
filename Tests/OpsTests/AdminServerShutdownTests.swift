import NIOCore
import NIOPosix
import TestSupport
import Testing
@testable import Ops

/// Connections that reach the admin port while it stops (a kubelet probe during SIGTERM's
/// drain) are closed; before `AcceptedAsyncChannel`, the ones accepted but not yet taken by the
/// accept loop trapped the whole process ("Deinited NIOAsyncWriter without calling finish()").
@Suite(.serialized, .timeLimit(.minutes(5)))
struct AdminServerShutdownTests {
    static var patientLimits: AdminServer.Limits {
        var limits = AdminServer.Limits()
        // Far beyond the test: only the shutdown may close these connections.
        limits.headerTimeout = .hours(1)
        limits.connectionTimeout = .hours(1)
        return limits
    }

    static func bind() async throws -> AdminServer {
        try await AdminServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                                   status: FakeStatus(), metrics: MetricsSetup.bootstrap(),
                                   logger: quietLogger, limits: patientLimits)
    }

    /// The deterministic form: the accept loop never takes them, so every one is still in the
    /// listening channel's buffer when the server goes away.
    @Test func connectionsAcceptedButNeverServedAreClosedWhenTheServerGoesAway() async throws {
        var server: AdminServer? = try await Self.bind()
        let port = try #require(server?.port)
        var clients: [any Channel] = []
        for _ in 0..<4 { clients.append(try await RawHTTPClient.hold(port: port)) }
        defer { for client in clients { client.close(promise: nil) } }
        // Admitted on accept: each is wrapped and waiting in the buffer.
        #expect(await eventually { server?.activeConnections == 4 })

        await server?.close()
        server = nil
        #expect(await eventually { clients.allSatisfy { !$0.isActive } })
    }

    /// The way it happens in production: connections arriving while `run()` is ended.
    @Test func aBurstOfConnectionsDuringShutdownIsClosed() async throws {
        for _ in 0..<5 {
            let server = try await Self.bind()
            let running = Task { try await server.run() }
            let clients = try await withThrowingTaskGroup(of: (any Channel)?.self) { group in
                for _ in 0..<32 {
                    group.addTask { try? await RawHTTPClient.hold(port: server.port) }
                }
                // Mid-burst: some are accepted, some buffered, some not yet accepted.
                running.cancel()
                return try await group.reduce(into: [any Channel]()) { if let client = $1 { $0.append(client) } }
            }
            defer { for client in clients { client.close(promise: nil) } }
            _ = try? await running.value
            await server.close()
            #expect(await eventually { clients.allSatisfy { !$0.isActive } })
        }
    }
}
