import Accounts
import FleetState
import Foundation
import PostgresTestSupport
import Relay
import SMTPCore
import TestSupport
import Testing

/// The pushbacks as `ProxyRuntime` wires them: the provider tells one runtime that the
/// account's quota is spent, and the other runtime's next MAIL for it is held back too.
@Suite(.serialized, .timeLimit(.minutes(5)), .enabled(if: PostgresTestServer.testsEnabled, "PostgreSQL is not installed"))
struct FleetPushbackWiringTests {
    @Test func aQuotaPauseSeenByOneRuntimeHoldsTheOtherBack() async throws {
        let url = try await PostgresTestServer.shared().makeStateURL()
        let wall = Date()
        let clock = ManualClock()
        try await withRelayHarness(configure: { settings in
            settings.resilience.clock = clock.clock
            settings.fleet = FleetRelayTests.fleet(url, now: { wall })
            settings.fleet?.pushbacks.pollInterval = .milliseconds(100)
        }) { harness in
            try await harness.withReplicas(1) { ports in
                harness.sandbox.faults.inject(SMTPReply(550, "5.4.5", "Daily user sending limit exceeded."), at: .mail)
                let a = try await harness.client()
                let first = try await a.command("MAIL FROM:<a@example.com>")
                #expect(first.code == 451 && first.enhancedStatus == "4.4.5")
                let b = try await harness.client(port: ports[0])
                #expect(await eventually {
                    let reply = try? await b.command("MAIL FROM:<a@example.com>")
                    _ = try? await b.command("RSET")
                    return reply?.code == 451 && reply?.enhancedStatus == "4.4.5"
                })
                await a.quit()
                await b.quit()
            }
        }
    }
}
