import Accounts
import Foundation
import Relay
import Resilience
import Sandbox
import SMTPCore
import TestSupport
import Testing

/// Limits and provider pushback, end to end through the proxy, with an injected clock so that
/// minutes pass in microseconds.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ResilienceEndToEndTests {
    static func withHarness(_ clock: ManualClock, limits: AccountLimits? = nil, maxConnections: Int = 5, smtpPort: Int? = nil,
                            configure: (inout ProxyRuntime.Configuration) -> Void = { _ in },
                            _ body: (RelayHarness) async throws -> Void) async throws {
        try await withRelayHarness(configure: { settings in
            settings.resilience.clock = clock.clock
            configure(&settings)
        }, maxConnections: maxConnections, limits: limits, smtpPort: smtpPort, body)
    }

    @Test func fiveMessagesPerMinuteLetsExactlyFiveThroughThenTheSixthHears451() async throws {
        let clock = ManualClock()
        try await Self.withHarness(clock, limits: AccountLimits(messagesPerMinute: 5, concurrentMessages: 5)) { harness in
            let client = try await harness.client()
            for _ in 0..<5 {
                #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            }
            let sixth = try await client.send(to: ["a@example.net"], message: "x\r\n")
            #expect(sixth.first?.code == 451)
            #expect(sixth.first?.enhancedStatus == "4.7.1")
            #expect(sixth.first?.lines.first?.contains("max_messages_per_minute=5") == true)
            #expect(harness.sandbox.store.messages.count == 5)
            clock.advance(by: .seconds(61))
            #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            await client.quit()
        }
    }

    @Test func messagesTheProviderRefusedDoNotCountAgainstTheLimit() async throws {
        let clock = ManualClock()
        try await Self.withHarness(clock, limits: AccountLimits(messagesPerMinute: 2, concurrentMessages: 5)) { harness in
            harness.sandbox.faults.inject(SMTPReply(554, "5.7.0", "Rejected as spam"), at: .endOfData, times: 3)
            let client = try await harness.client()
            for _ in 0..<3 {
                #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 554)
            }
            #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").first?.code == 451)
            await client.quit()
        }
    }

    @Test func recipientOverTheDailyLimitHears451AndTheOthersGetTheMessage() async throws {
        let clock = ManualClock()
        try await Self.withHarness(clock, limits: AccountLimits(recipientsPerDay: 3, concurrentMessages: 5)) { harness in
            let client = try await harness.client()
            let replies = try await client.send(to: ["a@example.net", "b@example.net", "c@example.net", "d@example.net"], message: "x\r\n")
            #expect(replies.map(\.code) == [250, 250, 250, 250, 451, 354, 250])
            #expect(replies[4].lines.first?.contains("max_recipients_per_day=3") == true)
            #expect(harness.sandbox.store.messages.first?.recipients == ["a@example.net", "b@example.net", "c@example.net"])
            await client.quit()
        }
    }

    @Test func providerQuotaSpentPausesTheAccountWithoutContactingTheProvider() async throws {
        let clock = ManualClock()
        try await Self.withHarness(clock, configure: { $0.resilience.quotaPause = .seconds(600) }) { harness in
            harness.sandbox.faults.inject(SMTPReply(550, "5.4.5", "Daily user sending limit exceeded."), at: .mail)
            let client = try await harness.client()
            let first = try await client.command("MAIL FROM:<a@example.com>")
            #expect(first.code == 451)
            #expect(first.enhancedStatus == "4.4.5")
            let sessions = harness.sandbox.sessionsAccepted
            let paused = try await client.command("MAIL FROM:<a@example.com>")
            #expect(paused.code == 451)
            #expect(paused.enhancedStatus == "4.4.5")
            #expect(paused.lines.first?.contains("about 10 min") == true)
            #expect(harness.sandbox.sessionsAccepted == sessions)
            clock.advance(by: .seconds(601))
            #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            await client.quit()
        }
    }

    @Test func slowDownAtLoginBacksOffNewConnectionsOnly() async throws {
        let clock = ManualClock()
        try await Self.withHarness(clock) { harness in
            let idle = try await harness.client()
            #expect(try await idle.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            // Hold the only idle connection so the next transaction needs a new one.
            #expect(try await idle.command("MAIL FROM:<a@example.com>").code == 250)
            harness.sandbox.faults.inject(SMTPReply(454, "4.7.0", "Too many login attempts, please try again later."), at: .auth)
            let client = try await harness.client()
            let refused = try await client.command("MAIL FROM:<a@example.com>")
            #expect(refused.code == 454)
            #expect(refused.enhancedStatus == "4.7.0")
            let throttled = try await client.command("MAIL FROM:<a@example.com>")
            #expect(throttled.code == 451)
            #expect(throttled.lines.first?.contains("slow down") == true)
            // The connection already open keeps working.
            #expect(try await idle.command("RCPT TO:<b@example.net>").code == 250)
            #expect(try await idle.command("RSET").code == 250)
            clock.advance(by: .seconds(2))
            #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            await client.quit()
            await idle.quit()
        }
    }

    @Test func connectionLimitFromTheProviderLowersThePoolCapForAWhile() async throws {
        let clock = ManualClock()
        try await Self.withHarness(clock, maxConnections: 3, configure: { $0.resilience.connectionLimitPause = .seconds(60) }) { harness in
            harness.sandbox.faults.inject(SMTPReply(432, "4.3.2", "STOREDRV.ClientSubmit; sender thread limit exceeded"), at: .mail)
            let pool = try #require(harness.runtime.server.accounts.lookup(email: harness.accounts[0].email)?.pool)
            let client = try await harness.client()
            let refused = try await client.command("MAIL FROM:<a@example.com>")
            #expect(refused.code == 451)
            #expect(refused.enhancedStatus == "4.3.2")
            #expect(pool.currentCap == 2)
            #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            clock.advance(by: .seconds(61))
            #expect(pool.currentCap == 3)
            await client.quit()
        }
    }

    @Test func unreachableHostOpensItsBreakerAndLaterProbes() async throws {
        let clock = ManualClock()
        try await withRefusingPort { closedPort in
            try await Self.withHarness(clock, smtpPort: closedPort, configure: { settings in
                settings.resilience.hostBreaker = CircuitBreaker.Configuration(
                    failureThreshold: 3, coolDown: ExponentialBackoff(initial: .seconds(10), maximum: .seconds(60)))
            }) { harness in
                let client = try await harness.client()
                for _ in 0..<3 {
                    let reply = try await client.command("MAIL FROM:<a@example.com>")
                    #expect(reply.code == 451)
                    #expect(reply.enhancedStatus == "4.4.1")
                    #expect(reply.lines.first?.contains("repeated failures") == false)
                }
                let open = try await client.command("MAIL FROM:<a@example.com>")
                #expect(open.code == 451)
                #expect(open.enhancedStatus == "4.4.1")
                #expect(open.lines.first?.contains("repeated failures") == true)
                clock.advance(by: .seconds(11))
                // The probe goes out (and fails: still nothing listening), reopening for longer.
                #expect(try await client.command("MAIL FROM:<a@example.com>").lines.first?.contains("repeated failures") == false)
                let reopened = try await client.command("MAIL FROM:<a@example.com>")
                #expect(reopened.lines.first?.contains("about 20 s") == true)
                await client.quit()
            }
        }
    }

    @Test func failingTokenEndpointOpensItsBreaker() async throws {
        let clock = ManualClock()
        try await Self.withHarness(clock, configure: { settings in
            settings.resilience.tokenBreaker = CircuitBreaker.Configuration(failureThreshold: 2)
        }) { harness in
            harness.sandbox.issuer.failNextRequests(1000, status: 503)
            let client = try await harness.client()
            for _ in 0..<2 {
                #expect(try await client.command("MAIL FROM:<a@example.com>").code == 454)
            }
            let requests = harness.sandbox.issuer.failedRequestCount
            let open = try await client.command("MAIL FROM:<a@example.com>")
            #expect(open.code == 451)
            #expect(open.enhancedStatus == "4.4.1")
            #expect(harness.sandbox.issuer.failedRequestCount == requests)
            await client.quit()
        }
    }

    @Test func credentialsRefusedWithFreshTokensStopTheAccountUntilTheProbe() async throws {
        let clock = ManualClock()
        try await Self.withHarness(clock) { harness in
            // Each attempt tries twice: with the cached token, then with a fresh one.
            harness.sandbox.faults.inject(SMTPReply(535, "5.7.8", "Username and Password not accepted."), at: .auth, times: 6)
            let client = try await harness.client()
            for _ in 0..<3 {
                #expect(try await client.command("MAIL FROM:<a@example.com>").code == 454)
            }
            let sessions = harness.sandbox.sessionsAccepted
            let failing = try await client.command("MAIL FROM:<a@example.com>")
            #expect(failing.code == 454)
            #expect(failing.lines.first?.contains("refuses this account's credentials") == true)
            #expect(harness.sandbox.sessionsAccepted == sessions)
            clock.advance(by: .seconds(301))
            #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            await client.quit()
        }
    }

    @Test func upstream421AtEndOfDataIsTemporaryAndTheSessionGoesOn() async throws {
        try await withRelayHarness() { harness in
            harness.sandbox.faults.inject(SMTPReply(421, "4.3.0", "Service shutting down, closing connection."), at: .endOfData)
            let client = try await harness.client()
            let replies = try await client.send(to: ["a@example.net"], message: "x\r\n")
            #expect(replies.last?.code == 451)
            #expect(replies.last?.enhancedStatus == "4.3.0")
            #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            await client.quit()
        }
    }
}
