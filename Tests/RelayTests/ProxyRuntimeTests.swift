import Foundation
import NIOCore
import Ops
import Relay
import SMTPCore
import TestSupport
import Testing

/// The composition root run as `serve` runs it: the admin server beside the listener in one
/// service group, stopped by graceful shutdown in ARCHITECTURE.md's order.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ProxyRuntimeTests {
    static func admin() -> ProxyRuntime.Companions {
        var companions = ProxyRuntime.Companions()
        companions.admin = .init(host: "127.0.0.1", port: 0, metrics: MetricsSetup.bootstrap())
        return companions
    }

    @Test func gracefulShutdownStopsTheListenerFirstAndTheAdminServerOnlyAfterTheDrain() async throws {
        try await withRelayHarness(companions: Self.admin()) { harness in
            let adminPort = try #require(harness.runtime.adminPort)
            #expect(await eventually { ServeProcessTests.get(port: adminPort, path: "/readyz")?.status == 200 })
            let client = try await harness.client()
            let id = try await ShutdownDrainTests.startTransaction(client, id: 1)

            await harness.beginShutdown()
            // The listener takes no one new, and the admin server, still up, says why it is not ready.
            #expect(await eventually { ServeProcessTests.get(port: adminPort, path: "/readyz")?.status == 503 })
            await #expect(throws: (any Error).self) { _ = try await harness.client(login: false) }
            try await client.connection.sendBody(ByteBuffer(string: "second half\r\n"))
            #expect(try await client.command(".").code == 250)
            #expect(harness.sandbox.store.messages.contains { FaultInjectionSoakTests.messageID(in: $0.data) == id })
            // The drained session leaves, the listener's service ends, then the admin server's.
            #expect(await eventually { ServeProcessTests.get(port: adminPort, path: "/readyz") == nil })
        }
    }

    @Test func tokenRefreshesAreCountedUnderTheAccountsProvider() async throws {
        let metrics = PrometheusRelayMetrics(registry: MetricsSetup.bootstrap())
        try await withRelayHarness(configure: { $0.metrics = metrics }, companions: Self.admin()) { harness in
            let adminPort = try #require(harness.runtime.adminPort)
            let client = try await harness.client()
            #expect(try await client.send(to: ["a@example.net"], message: "Subject: x\r\n\r\nx\r\n").last?.code == 250)
            await client.quit()
            let metrics = try #require(ServeProcessTests.get(port: adminPort, path: "/metrics")?.body)
            let refreshes = metrics.split(separator: "\n").filter { $0.hasPrefix(ProxyMetrics.tokenRefreshesTotal + "{") }
            // The harness's accounts are of the custom provider; the cache learnt it when they
            // were registered, so no refresh goes uncounted as "unknown".
            #expect(refreshes.contains { $0.contains("provider=\"custom\"") && $0.contains("result=\"ok\"") })
            #expect(!refreshes.contains { $0.contains("provider=\"unknown\"") })
        }
    }
}
