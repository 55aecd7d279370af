import Relay
import Sandbox
import SMTPCore
import TestSupport
import Testing

/// Providers that parse loosely or answer out of turn: whatever they do, an upstream
/// connection in an unknown state never serves another transaction.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct LenientProviderTests {
    /// A provider refuses MAIL and still opens the DATA pipelined behind it: that connection
    /// now takes whatever comes next as a message body. Reused, the next session's MAIL, RCPT
    /// and DATA would be written into that body (issue 13, item 2).
    @Test func anUpstreamLeftInsideDataIsNeverReused() async throws {
        // One upstream connection per account, so the second session gets that one unless it
        // was closed. Plaintext and a short command timeout: a reused connection shows as the
        // next session's MAIL going unanswered, and the test should say so in seconds.
        try await withRelayHarness(configure: { $0.upstreamTimeouts.command = .seconds(10) }, maxConnections: 1,
                                   upstreamTLS: .none) { harness in
            harness.sandbox.faults.inject(SMTPReply(550, "5.7.1", "Sender refused"), at: .mail)
            harness.sandbox.faults.opensDataWithoutTransaction = true

            let first = try await harness.client()
            let refused = try await first.send(to: ["a@example.net"], message: "Subject: refused\r\n\r\nx\r\n")
            #expect(refused.first?.code == 550)
            #expect(refused.last?.code != 354, "the client must never hear the upstream's 354: \(refused)")
            await first.quit()

            let second = try await harness.client()
            let replies = try await second.send(to: ["b@example.net"], message: "Subject: second\r\n\r\nok\r\n")
            #expect(replies.map(\.code) == [250, 250, 354, 250])
            await second.quit()
            #expect(harness.sandbox.store.messages.map(\.recipients) == [["b@example.net"]])
        }
    }
}
