import Accounts
import NIOCore
@testable import Relay
import SMTPCore
import Testing
import TestSupport

/// A client that gives up while its MAIL waits (for the account's concurrency slot, or for a
/// pooled connection at the cap) must not take that slot or connection with it: the wait ends
/// after the client has gone, and what it obtained goes back.
@Suite(.timeLimit(.minutes(5)))
struct AbandonedWaitTests {
    @Test(arguments: [1, 0])
    func aClientLeavingWhileItsMailWaitsHoldsNothing(concurrentMessages: Int) async throws {
        try await withRelayHarness(configure: { settings in
            // Long: a slot or connection leaked by the client that left would make the last
            // message wait this long and fail, instead of going through at once.
            settings.poolAcquireTimeout = .seconds(20)
            settings.resilience.concurrencyWait = .seconds(20)
        }, maxConnections: 1, limits: AccountLimits(concurrentMessages: concurrentMessages)) { harness in
            let account = try #require(harness.runtime.server.accounts.lookup(email: harness.accounts[0].email))
            let holder = try await harness.client()
            #expect(try await holder.command("MAIL FROM:<a@example.com>").code == 250)
            let leaver = try await harness.client()
            _ = leaver.connection.send("MAIL FROM:<b@example.com>", step: "MAIL")
            #expect(await eventually {
                concurrentMessages > 0 ? account.limiter.concurrency.waiting == 1 : account.pool.counts.waiting == 1
            })
            leaver.connection.close()
            #expect(await eventually { harness.runtime.server.activeSessions == 1 })
            // The holder's slot and connection go to the waiter that left; it must hand them on.
            #expect(try await holder.command("RSET").code == 250)
            let next = try await harness.client()
            let replies = try await next.send(to: ["c@example.net"], message: "Subject: after\r\n\r\nx\r\n")
            #expect(replies.last?.code == 250, "the message after the abandoned wait got \(replies)")
            #expect(await eventually { account.limiter.concurrency.inUse == 0 && account.pool.counts.busy == 0 })
            await holder.quit()
            await next.quit()
        }
    }
}
