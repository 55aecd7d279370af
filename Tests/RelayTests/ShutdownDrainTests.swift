import Foundation
import NIOCore
import Relay
import Sandbox
import SMTPCore
import SMTPNIO
import TestSupport
import Testing

/// SIGTERM's path through the relay: idle sessions are told goodbye, transactions in flight
/// finish, and nothing is reported delivered that was not.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ShutdownDrainTests {
    /// Opens a transaction and sends the first half of the body.
    static func startTransaction(_ client: TestSMTPClient, id: Int) async throws -> String {
        let connection = client.connection
        let mail = connection.send("MAIL FROM:<a@example.com>", step: "MAIL", flush: false)
        let rcpt = connection.send("RCPT TO:<b@example.net>", step: "RCPT", flush: false)
        let data = connection.send("DATA", step: "DATA", flush: true)
        guard try await mail.get().code == 250, try await rcpt.get().code == 250, try await data.get().code == 354 else {
            throw TestFailure("transaction \(id) did not start")
        }
        let message = "Message-ID: <drain-\(id)@test>\r\nSubject: drain\r\n\r\nfirst half\r\n"
        try await connection.sendBody(ByteBuffer(string: message))
        return "<drain-\(id)@test>"
    }

    @Test func fiftyTransactionsInFlightFinishAndIdleSessionsAreToldGoodbye() async throws {
        // Fifty upstream connections: plaintext, since a debug build's TLS handshakes on a loaded
        // machine took this test past its time limit, and the drain does not depend on them.
        try await withRelayHarness(accounts: 10, maxConnections: 5, upstreamTLS: .none) { harness in
            var inFlight: [(TestSMTPClient, String)] = []
            for index in 0..<50 {
                let client = try await harness.client(account: index % 10)
                inFlight.append((client, try await Self.startTransaction(client, id: index)))
            }
            var idle: [TestSMTPClient] = []
            for index in 0..<5 { idle.append(try await harness.client(account: index)) }

            harness.runtime.server.beginShutdown()
            #expect(harness.runtime.server.isDraining)

            // Idle sessions hear 421 4.3.2 and are closed without having to speak.
            for client in idle {
                #expect(await eventually { !client.connection.isActive })
            }
            // New clients are turned away.
            await #expect(throws: (any Error).self) { _ = try await harness.client(login: false) }

            var delivered: [String] = []
            var deferred = 0
            for (client, id) in inFlight {
                try await client.connection.sendBody(ByteBuffer(string: "second half\r\n"))
                let reply = try await client.command(".")
                if reply.code == 250 { delivered.append(id) } else { #expect(reply.isTransientFailure); deferred += 1 }
            }
            let stored = Set(harness.sandbox.store.messages.compactMap { FaultInjectionSoakTests.messageID(in: $0.data) })
            #expect(delivered.allSatisfy { stored.contains($0) })
            #expect(stored.count == delivered.count)
            // With the whole grace period ahead, every transaction in flight completes.
            #expect(delivered.count == 50)
            #expect(deferred == 0)
        }
    }

    @Test func transactionsStillOpenWhenTheGraceRunsOutAreCutAndNothingIsDelivered() async throws {
        try await withRelayHarness(configure: { $0.server.shutdownGrace = .milliseconds(300) }) { harness in
            let client = try await harness.client()
            _ = try await Self.startTransaction(client, id: 1)
            harness.runtime.server.beginShutdown()
            #expect(await eventually { !client.connection.isActive })
            #expect(harness.sandbox.store.messages.isEmpty)
        }
    }
}
