import Accounts
import FleetState
import Foundation
import NIOConcurrencyHelpers
import Ops
import PostgresTestSupport
import Prometheus
import Relay
import TestSupport
import Testing

/// The fleet database stopped under a relaying replica and started again: messages keep
/// flowing on the held lease and then the local share (30 / hint 3 = 10 per minute), /readyz
/// names the state without failing, metrics show it, and leases resume after the restart. A
/// server of the test's own, since the other tests share theirs.
@Suite(.serialized, .timeLimit(.minutes(5)), .enabled(if: PostgresTestServer.testsEnabled, "PostgreSQL is not installed"))
struct FleetOutageTests {
    @Test func relayingGoesOnUnderTheLocalShareAndLeasesResume() async throws {
        let server = try await PostgresTestServer.start()
        defer { server.stop() }
        let url = try await server.makeStateURL()
        let wall = NIOLockedValueBox(Date())
        let clock = ManualClock()
        let registry = PrometheusCollectorRegistry()
        var companions = ProxyRuntime.Companions()
        companions.admin = .init(host: "127.0.0.1", port: 0, metrics: registry)
        try await withRelayHarness(configure: { settings in
            settings.resilience.clock = clock.clock
            settings.metrics = PrometheusRelayMetrics(registry: registry)
            var fleet = FleetRelayTests.fleet(url, now: { wall.withLockedValue { $0 } })
            // Long enough for a loaded machine's connected calls, short enough that the
            // first call of the outage ends soon: a refused connection is retried until then.
            fleet.database.operationTimeout = .seconds(2)
            fleet.pushbacks.callTimeout = .seconds(2)
            settings.fleet = fleet
        }, limits: AccountLimits(messagesPerMinute: 30, concurrentMessages: 5), companions: companions) { harness in
            let admin = try #require(harness.runtime.adminPort)
            let client = try await harness.client()
            func send(_ count: Int) async throws -> (relayed: Int, refused: [String]) {
                var relayed = 0, refused: [String] = []
                for index in 0..<count {
                    let replies = try await client.send(to: ["a@example.net"], message: "m\(index)\r\n")
                    if replies.last?.code == 250 { relayed += 1 } else { refused.append("\(replies.first?.code ?? 0) \(replies.first?.enhancedStatus ?? "")") }
                }
                return (relayed, refused)
            }
            #expect(try await send(5).relayed == 5)

            try await server.stopServer()
            let during = try await send(40)
            // The held lease goes on; then the local share, which counts all 5 + what followed.
            #expect(during.relayed >= 1)
            #expect(5 + during.relayed <= 30, "more than the limit while the database was away")
            #expect(during.refused.allSatisfy { $0 == "451 4.7.1" }, "\(Set(during.refused))")
            let readiness = ServeProcessTests.get(port: admin, path: "/readyz")
            #expect(readiness?.status == 200)
            #expect(readiness?.body.contains("fleet state: local share") == true, "\(readiness?.body ?? "")")
            let metrics = ServeProcessTests.get(port: admin, path: "/metrics")?.body ?? ""
            #expect(metrics.contains("xoauth2_proxy_fleet_database_up 0"), "\(metrics)")

            try await server.restartServer()
            // A minute later (a new window, past the retry backoff): leases again.
            wall.withLockedValue { $0 = $0.addingTimeInterval(61) }
            clock.advance(by: .seconds(61))
            #expect(await eventually {
                // A first attempt that fails (a loaded machine's reconnect) backs off in wall time.
                wall.withLockedValue { $0 = $0.addingTimeInterval(5) }
                _ = try? await send(1)
                return ServeProcessTests.get(port: admin, path: "/readyz")?.body == #"{"status":"ready"}"#
            })
            let after = ServeProcessTests.get(port: admin, path: "/metrics")?.body ?? ""
            #expect(after.contains("xoauth2_proxy_fleet_database_up 1"))
            await client.quit()
        }
    }
}
