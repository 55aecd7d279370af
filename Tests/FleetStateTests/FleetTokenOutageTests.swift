import FleetState
import Foundation
import NIOConcurrencyHelpers
import OAuth2
import PostgresTestSupport
import TestSupport
import Testing

/// The database stopped under two replicas: a server of the test's own, since the other tests
/// share theirs.
@Suite("Fleet token sharing without its database", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
struct FleetTokenOutageTests {
    @Test("stopped: each replica refreshes by itself at the call bound, logging the change once; restarted: shared again")
    func outage() async throws {
        try await withOwnServer(replicas: 2) { server, databases in
            try await TokenFleet.with { fleet in
                let logs = [CapturedLog(), CapturedLog()]
                let polls = NIOLockedValueBox(0)
                // A short bound for the outage; the pools are opened first under the suite's generous one.
                for database in databases { try await FleetQuotaTests.warmUp(database) }
                let replicas = (0..<2).map { fleet.replica(databases[$0], timeout: .seconds(1), polls: polls, logger: logs[$0].logger) }
                _ = try await replicas[0].accessToken(forKey: TokenFleet.email)
                _ = try await replicas[1].accessToken(forKey: TokenFleet.email)
                #expect(fleet.refreshes == 1)

                try await server.stopServer()
                for round in 1...2 {
                    fleet.clock.advance(by: .seconds(3600))
                    for replica in replicas {
                        let token = try await replica.accessToken(forKey: TokenFleet.email)
                        #expect(fleet.issuer.validate(token: token.value, email: TokenFleet.email))
                    }
                    #expect(fleet.refreshes == 1 + 2 * round)
                }
                // Nobody waited for another replica's refresh: the store's calls failed, no lease was seen.
                #expect(polls.withLockedValue { $0 } == 0)
                for log in logs {
                    let lines = log.messages.withLockedValue { $0 }
                    #expect(lines.filter { $0.contains("shared token store unavailable") }.count == 1, "\(lines)")
                    #expect(!lines.contains { $0.contains(server.password) || $0.contains(TokenFleet.mounted) })
                }

                try await server.restartServer()
                // The pools reconnect with backoff: each replica refreshes by itself until its store answers.
                #expect(await eventually(within: .seconds(120)) {
                    fleet.clock.advance(by: .seconds(3600))
                    for replica in replicas { _ = try? await replica.accessToken(forKey: TokenFleet.email) }
                    return logs.allSatisfy { $0.messages.withLockedValue { $0.contains { $0.contains("reachable again") } } }
                })
                fleet.clock.advance(by: .seconds(3600))
                let before = fleet.refreshes
                let tokens = [try await replicas[0].accessToken(forKey: TokenFleet.email),
                              try await replicas[1].accessToken(forKey: TokenFleet.email)]
                #expect(tokens[0].value == tokens[1].value)
                #expect(fleet.refreshes == before + 1)
            }
        }
    }
}
