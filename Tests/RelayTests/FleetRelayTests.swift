import Accounts
import FleetState
import Foundation
import NIOConcurrencyHelpers
import PostgresTestSupport
import Relay
import SMTPCore
import TestSupport
import Testing

/// Fleet mode end to end in one process: several runtimes ("replicas") in front of one sandbox,
/// sharing one PostgreSQL database. Wall clock and local clock are frozen, so "within a minute"
/// holds however slowly a loaded machine sends; the database bound is generous for the same
/// reason (a test of the bound itself is in FleetStateTests).
@Suite(.serialized, .timeLimit(.minutes(5)), .enabled(if: PostgresTestServer.testsEnabled, "PostgreSQL is not installed"))
struct FleetRelayTests {
    static func fleet(_ url: FleetStateURL, now: @escaping @Sendable () -> Date, hint: Int = 3) -> FleetSettings {
        var fleet = FleetSettings(url: url)
        fleet.fleetSizeHint = hint
        fleet.now = now
        fleet.database.operationTimeout = .seconds(30)
        fleet.database.connectTimeout = .seconds(30)
        fleet.database.migrationTimeout = .seconds(60)
        // The wall clock is frozen: a call that timed out would back off forever.
        fleet.pushbacks.callTimeout = .seconds(30)
        return fleet
    }

    /// Sends `count` messages round-robin over the replicas' ports, one client per replica.
    static func send(_ count: Int, harness: RelayHarness, ports: [Int]) async throws -> (relayed: Int, refused: [SMTPReply]) {
        var clients: [TestSMTPClient] = []
        for port in ports { clients.append(try await harness.client(port: port)) }
        return try await sendRoundRobin(count, over: clients)
    }

    @Test("three replicas, max_messages_per_minute 30: 100 messages across them, exactly 30 relayed, 70 hear 451 4.7.1")
    func minuteLimitHoldsForTheFleet() async throws {
        let url = try await PostgresTestServer.shared().makeStateURL()
        let wall = Date()
        let clock = ManualClock()
        try await withRelayHarness(configure: { settings in
            settings.resilience.clock = clock.clock
            settings.fleet = Self.fleet(url, now: { wall })
        }, limits: AccountLimits(messagesPerMinute: 30, concurrentMessages: 5)) { harness in
            try await harness.withReplicas(2) { ports in
                let (relayed, refused) = try await Self.send(100, harness: harness, ports: [harness.port] + ports)
                #expect(relayed == 30)
                #expect(harness.sandbox.store.messages.count == 30)
                #expect(refused.count == 70)
                #expect(refused.allSatisfy { $0.isAccountLimit && $0.lines.joined().contains("max_messages_per_minute=30") })
            }
        }
    }

    @Test("max_messages_per_day 30 across a restart of every replica: 20 before, then 80 more let 10 through")
    func dayLimitHoldsAcrossARestartOfTheFleet() async throws {
        let url = try await PostgresTestServer.shared().makeStateURL()
        let wall = NIOLockedValueBox(Date())
        let clock = ManualClock()
        try await withRelayHarness(configure: { settings in
            settings.resilience.clock = clock.clock
            settings.fleet = Self.fleet(url, now: { wall.withLockedValue { $0 } })
        }, limits: AccountLimits(messagesPerDay: 30, concurrentMessages: 5)) { first in
            let before = try await first.withReplicas(2) { ports in
                try await Self.send(20, harness: first, ports: [first.port] + ports)
            }
            #expect(before.relayed == 20)
            // The whole fleet stopped (leases given back), and started again an hour later:
            // inside the day, past the expiry of any lease that was not given back.
            await first.stopProxy()
            wall.withLockedValue { $0 = $0.addingTimeInterval(3600) }
            try await first.withReplicas(3) { ports in
                let after = try await Self.send(80, harness: first, ports: ports)
                #expect(after.relayed == 10)
                #expect(after.refused.allSatisfy { $0.isAccountLimit && $0.lines.joined().contains("max_messages_per_day=30") })
            }
            #expect(first.sandbox.store.messages.count == 30)
        }
    }
}

extension FleetRelayTests {
    @Test("two replicas, max_recipients_per_day 10: messages of three recipients, exactly 10 recipients delivered")
    func recipientLimitHoldsForTheFleet() async throws {
        let url = try await PostgresTestServer.shared().makeStateURL()
        let wall = Date()
        let clock = ManualClock()
        try await withRelayHarness(configure: { settings in
            settings.resilience.clock = clock.clock
            settings.fleet = Self.fleet(url, now: { wall }, hint: 2)
        }, limits: AccountLimits(recipientsPerDay: 10, concurrentMessages: 5)) { harness in
            try await harness.withReplicas(1) { ports in
                for index in 0..<12 {
                    // A session of its own per message: a refused MAIL makes its RCPTs and DATA
                    // errors, and a session with too many of those is closed.
                    let client = try await harness.client(port: [harness.port, ports[0]][index % 2])
                    let recipients = (0..<3).map { "r\(index)-\($0)@example.net" }
                    let replies = try await client.send(to: recipients, message: "m\(index)\r\n")
                    await client.quit()
                    // Every refusal, of a message or of one recipient, is the temporary 451 4.7.1.
                    for reply in replies where reply.code >= 400 && reply.code != 503 && reply.code != 554 {
                        #expect(reply.code == 451 && reply.enhancedStatus == "4.7.1", "\(reply)")
                    }
                }
                #expect(harness.sandbox.store.messages.reduce(0) { $0 + $1.recipients.count } == 10)
            }
        }
    }
}
