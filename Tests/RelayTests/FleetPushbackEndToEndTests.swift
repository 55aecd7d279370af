import FleetState
import PostgresTestSupport
@testable import Relay
import SMTPCore
import TestSupport
import Testing

/// Replica A is the proxy as `serve` wires it, in front of a sandbox provider that pushes back;
/// replica B is the same account's limiters on the same database. What A's provider says in a
/// real transaction reaches B: the hooks on the message path publish, not only the test's calls.
@Suite("Fleet pushbacks from the message path", .enabled(if: PostgresTestServer.testsEnabled, "PostgreSQL is not installed"),
       .serialized, .timeLimit(.minutes(5)))
struct FleetPushbackEndToEndTests {
    static func withReplicas(_ body: (RelayHarness, PushbackRelayReplica, ManualClock) async throws -> Void) async throws {
        try await withFleetDatabases { clock, wall, databases in
            let bridge = PushbackRelayReplica.bridge(databases[0], wall: wall)
            try await withRelayHarness(configure: { settings in
                settings.resilience.clock = clock.clock
                settings.resilience.fleetPushbacks = bridge
            }) { harness in
                bridge.attach(harness.runtime.server.accounts)
                let b = try PushbackRelayReplica(databases[1], clock: clock, wall: wall, email: harness.accounts[0].email)
                try await body(harness, b, clock)
                #expect(await eventually { bridge.pushbacks.unwritten == 0 })
            }
        }
    }

    @Test("A's provider answers MAIL with 550 5.4.5: B's next message is refused after its poll")
    func quotaSpentInATransaction() async throws {
        try await Self.withReplicas { harness, b, _ in
            harness.sandbox.faults.inject(SMTPReply(550, "5.4.5", "Daily user sending limit exceeded."), at: .mail)
            let client = try await harness.client()
            #expect(try await client.command("MAIL FROM:<a@example.com>").code == 451)
            await client.quit()
            #expect(await eventually {
                await b.pushbacks.poll()
                return b.limiter.pauseRemaining() != nil
            })
            #expect(!FleetPushbackBridgeTests.admits(b))
        }
    }

    @Test("A's provider refuses the credentials with fresh tokens until A's breaker opens: B refuses new connections")
    func credentialsRefusedAtAuth() async throws {
        try await Self.withReplicas { harness, b, _ in
            // Each attempt tries twice: with the cached token, then with a fresh one.
            harness.sandbox.faults.inject(SMTPReply(535, "5.7.8", "Username and Password not accepted."), at: .auth, times: 6)
            let client = try await harness.client()
            for _ in 0..<3 { #expect(try await client.command("MAIL FROM:<a@example.com>").code == 454) }
            await client.quit()
            #expect(await eventually {
                await b.pushbacks.poll()
                if case .open = b.limiter.credentials.state { return true }
                return false
            })
            #expect(throws: RelayFailure.self) { _ = try b.limiter.checkNewConnection() }
        }
    }
}
