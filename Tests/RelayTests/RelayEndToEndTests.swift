import Foundation
import NIOCore
import Relay
import Resilience
import Sandbox
import SMTPCore
import TestSupport
import Testing

@Suite(.serialized, .timeLimit(.minutes(5)))
struct RelayEndToEndTests {
    @Test func messageWithLeadingDotsArrivesByteIdentical() async throws {
        try await withRelayHarness() { harness in
            let message = "From: a@example.com\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nnot the end\r\n. space\r\nlast line\r\n"
            let client = try await harness.client()
            let replies = try await client.send(to: ["rcpt@example.net"], message: message)
            #expect(replies.map(\.code) == [250, 250, 354, 250])
            await client.quit()
            let stored = harness.sandbox.store.messages
            #expect(stored.count == 1)
            #expect(stored.first?.data == Array(message.utf8))
            #expect(stored.first?.authenticatedUser == "user0@example.com")
            #expect(stored.first?.recipients == ["rcpt@example.net"])
        }
    }

    @Test func rejectedRecipientGetsTheUpstreamVerdictAndTheOthersGetTheMessage() async throws {
        try await withRelayHarness() { harness in
            harness.sandbox.faults.rejectRecipient("nobody@example.net", with: SMTPReply(550, "5.1.1", "The email account that you tried to reach does not exist"))
            let client = try await harness.client()
            let replies = try await client.send(to: ["one@example.net", "nobody@example.net", "three@example.net"], message: "Subject: x\r\n\r\nhi\r\n")
            #expect(replies.map(\.code) == [250, 250, 550, 250, 354, 250])
            #expect(replies[2].lines.first == "5.1.1 The email account that you tried to reach does not exist")
            await client.quit()
            #expect(harness.sandbox.store.messages.first?.recipients == ["one@example.net", "three@example.net"])
        }
    }

    /// The token cache runs on `ContinuousClock` (`ProxyRuntime` hands it no clock), so this test
    /// is in real time: the first two messages must go through within lifetime less margin (3 s)
    /// of the token's issue (plaintext upstream, so no debug-build TLS handshake on a loaded
    /// machine eats into that); then it waits for the condition itself, the cached token past its
    /// margin, rather than a fixed sleep.
    /// On an injected clock: however slow the machine, messages 1 and 2 fall inside the token's
    /// life and message 3 after the cache's 600 s margin and the pool's 60 s safety.
    @Test func tokenExpiryBetweenMessagesTriggersExactlyOneRefresh() async throws {
        let clock = ManualClock()
        try await withRelayHarness(configure: { $0.resilience.clock = clock.clock }) { harness in
            let client = try await harness.client()
            #expect(try await client.send(to: ["a@example.net"], message: "Subject: 1\r\n\r\n1\r\n").last?.code == 250)
            #expect(try await client.send(to: ["a@example.net"], message: "Subject: 2\r\n\r\n2\r\n").last?.code == 250)
            #expect(harness.sandbox.issuer.issuedTokenCount() == 1)
            clock.advance(by: .seconds(3600 - 600 + 1))
            #expect(try await client.send(to: ["a@example.net"], message: "Subject: 3\r\n\r\n3\r\n").last?.code == 250)
            #expect(harness.sandbox.issuer.issuedTokenCount() == 2)
            await client.quit()
            #expect(harness.sandbox.store.acceptedCount == 3)
        }
    }

    @Test func twentyConcurrentClientsTenMessagesEachAllArriveExactlyOnce() async throws {
        try await withRelayHarness(accounts: 2) { harness in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for clientIndex in 0..<20 {
                    group.addTask {
                        let client = try await harness.client(account: clientIndex % 2)
                        for messageIndex in 0..<10 {
                            let replies = try await client.send(to: ["r@example.net"], message: "Message-ID: <\(clientIndex)-\(messageIndex)@test>\r\n\r\nbody\r\n")
                            guard replies.last?.code == 250 else { throw TestFailure("client \(clientIndex) message \(messageIndex): \(replies)") }
                        }
                        await client.quit()
                    }
                }
                try await group.waitForAll()
            }
            let ids = harness.sandbox.store.messages.map { String(decoding: $0.data, as: UTF8.self).components(separatedBy: "\r\n")[0] }
            #expect(ids.count == 200)
            #expect(Set(ids).count == 200)
        }
    }

    @Test func upstreamDroppingMidDataGives451AndTheSessionCanRetry() async throws {
        try await withRelayHarness() { harness in
            harness.sandbox.faults.dropConnectionDuringData(afterBytes: 10)
            let client = try await harness.client()
            let body = "Subject: retry\r\n\r\n" + String(repeating: "line of text\r\n", count: 200)
            let first = try await client.send(to: ["a@example.net"], message: body)
            #expect(first.last?.code == 451)
            #expect(first.last?.enhancedStatus == "4.4.2")
            #expect(harness.sandbox.store.acceptedCount == 0)
            let second = try await client.send(to: ["a@example.net"], message: body)
            #expect(second.last?.code == 250)
            #expect(harness.sandbox.store.messages.map(\.data) == [Array(body.utf8)])
            await client.quit()
        }
    }

    @Test func oversizeMessageGets552AndNothingReachesTheUpstream() async throws {
        try await withRelayHarness(configure: { settings in
            settings.server.session.stateMachine.maxMessageSize = 10_000
        }) { harness in
            let client = try await harness.client()
            let declared = try await client.command("MAIL FROM:<a@example.com> SIZE=20000")
            #expect(declared.code == 552)
            let big = "Subject: big\r\n\r\n" + String(repeating: String(repeating: "x", count: 98) + "\r\n", count: 200)
            let replies = try await client.send(to: ["a@example.net"], message: big)
            #expect(replies.last?.code == 552)
            #expect(replies.last?.enhancedStatus == "5.3.4")
            // The session goes on, and a message within the limit still goes through.
            #expect(try await client.send(to: ["a@example.net"], message: "Subject: small\r\n\r\nok\r\n").last?.code == 250)
            #expect(harness.sandbox.store.messages.count == 1)
            #expect(harness.sandbox.store.messages.first.map { String(decoding: $0.data, as: UTF8.self).hasPrefix("Subject: small") } == true)
            await client.quit()
        }
    }

    @Test func wrongPasswordUnknownUserAndMailBeforeAuth() async throws {
        try await withRelayHarness() { harness in
            let client = try await harness.client(login: false)
            #expect(try await client.command("MAIL FROM:<a@example.com>").code == 530)
            let wrong = try await client.login(harness.accounts[0].email, "not-the-password")
            #expect(wrong.code == 535)
            #expect(wrong.enhancedStatus == "5.7.8")
            #expect(try await client.command("NOOP").code == 250)
            let unknown = try await client.login("stranger@example.com", harness.accounts[0].password)
            #expect(unknown == wrong)
            // The third failed login ends the session, although a good NOOP came between.
            let third = try await client.login(harness.accounts[0].email, "third-wrong")
            #expect(third.code == 421)
            #expect(third.enhancedStatus == "4.7.0")
            #expect(await eventually { !client.connection.isActive })
            await client.quit()
            #expect(harness.sandbox.issuer.issuedTokenCount() == 0)
        }
    }

    @Test func dryRunContactsNothing() async throws {
        try await withRelayHarness(configure: { settings in
            settings.dryRun = true
        }) { harness in
            let client = try await harness.client()
            let replies = try await client.send(to: ["a@example.net", "b@example.net"], message: "Subject: dry\r\n\r\nx\r\n")
            #expect(replies.map(\.code) == [250, 250, 250, 354, 250])
            #expect(replies.last?.lines.first == "2.0.0 dry-run: not relayed")
            // The session runs as in production against the fake upstream: the pool lent a
            // connection and took it back, and the next message is carried on it.
            let pool = try #require(harness.runtime.server.accounts.lookup(email: harness.accounts[0].email)?.pool)
            #expect(await eventually { pool.counts.idle == 1 && pool.counts.busy == 0 })
            #expect(try await client.send(to: ["c@example.net"], message: "Subject: again\r\n\r\ny\r\n").last?.lines.first
                    == "2.0.0 dry-run: not relayed")
            #expect(await eventually { pool.counts.idle == 1 && pool.counts.busy == 0 })
            // What the proxy itself refuses is refused in a dry run too.
            let bare = try await client.send(to: ["a@example.net"], message: "Subject: bare\nx\r\n")
            #expect(bare.last?.code == 550)
            #expect(try await client.command("RSET").code == 250)
            #expect(try await client.command("NOOP").code == 250)
            await client.quit()
            #expect(harness.sandbox.store.acceptedCount == 0)
            #expect(harness.sandbox.sessionsAccepted == 0)
            #expect(harness.sandbox.issuer.issuedTokenCount() == 0)
            #expect(harness.sandbox.tokenEndpoint.acceptedConnectionCount() == 0)
        }
    }

    @Test func upstreamRefusingTheTokenIsRetriedOnceWithAFreshToken() async throws {
        try await withRelayHarness() { harness in
            harness.sandbox.faults.inject(SMTPReply(535, "5.7.8", "Username and Password not accepted"), at: .auth)
            let client = try await harness.client()
            #expect(try await client.send(to: ["a@example.net"], message: "Subject: x\r\n\r\nx\r\n").last?.code == 250)
            #expect(harness.sandbox.issuer.issuedTokenCount() == 2)
            await client.quit()
        }
    }

    @Test func upstreamReplyCodesAreRelayedPerCommand() async throws {
        try await withRelayHarness() { harness in
            harness.sandbox.faults.inject(SMTPReply(451, "4.3.0", "Temporary System Problem"), at: .mail)
            let client = try await harness.client()
            let refused = try await client.send(to: ["a@example.net"], message: "x\r\n")
            #expect(refused.first?.code == 451)
            #expect(refused.first?.lines.first == "4.3.0 Temporary System Problem")
            // RCPT after a refused MAIL is out of sequence, DATA likewise: no 250 anywhere.
            #expect(!refused.contains { $0.code == 250 || $0.code == 354 })
            harness.sandbox.faults.inject(SMTPReply(554, "5.7.0", "Message rejected for policy reasons"), at: .endOfData)
            let rejected = try await client.send(to: ["a@example.net"], message: "x\r\n")
            #expect(rejected.last == SMTPReply(code: 554, lines: ["5.7.0 Message rejected for policy reasons"]))
            #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            #expect(harness.sandbox.store.acceptedCount == 1)
            await client.quit()
        }
    }

    /// DATA goes upstream in the same write as MAIL and RCPT; when every recipient is refused
    /// the upstream refuses that DATA too, and the connection stays clean for the next message.
    @Test func dataPipelinedBehindRefusedRecipientsLeavesTheUpstreamClean() async throws {
        try await withRelayHarness() { harness in
            harness.sandbox.faults.rejectRecipient("nobody@example.net")
            let client = try await harness.client()
            let refused = try await client.send(to: ["nobody@example.net"], message: "x\r\n")
            #expect(refused.map(\.code) == [250, 550, 554])
            #expect(try await client.command("RSET").code == 250)
            let mixed = try await client.send(to: ["nobody@example.net", "a@example.net"], message: "x\r\n")
            #expect(mixed.map(\.code) == [250, 550, 250, 354, 250])
            #expect(try await client.send(to: ["a@example.net"], message: "y\r\n").last?.code == 250)
            #expect(harness.sandbox.store.acceptedCount == 2)
            #expect(harness.sandbox.sessionsAccepted == 1)
            await client.quit()
        }
    }
}
