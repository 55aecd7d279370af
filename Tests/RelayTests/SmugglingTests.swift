import Foundation
import NIOCore
import SMTPCore
import TestSupport
import Testing

/// SMTP smuggling through a provider that ends DATA on a bare line ending: a body that reads
/// as "end of message, then a second transaction" to that provider must never reach it
/// (issue 13, item 1).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SmugglingTests {
    @Test(arguments: ["\n.\r\n", "\n.\n", "\r.\r"])
    func nothingAfterABareLineEndingReachesALenientProvider(terminator: String) async throws {
        try await withTeardown(setUp: { try await LooseProvider.start(terminators: [terminator]) },
                               tearDown: { await $0.close() }) { provider in
        try await withRelayHarness(maxConnections: 1, smtpPort: provider.port, upstreamTLS: .none) { harness in
            let client = try await harness.client()
            #expect(try await client.command("MAIL FROM:<sender@example.com>").code == 250)
            #expect(try await client.command("RCPT TO:<rcpt@example.net>").code == 250)
            #expect(try await client.command("DATA").code == 354)
            // The smuggled transaction sits in the first read; the padding keeps the end of
            // data out of that read, so a proxy that forwards chunk by chunk has sent it
            // before it sees the end (reads are at most 16 KB).
            let smuggled = "Subject: hi\r\n\r\nhello" + terminator
                + "MAIL FROM:<evil@example.org>\r\nRCPT TO:<extra@example.net>\r\nDATA\r\nsmuggled body" + terminator
            let padding = String(repeating: String(repeating: "p", count: 78) + "\r\n", count: 2500)
            try await client.connection.sendBody(ByteBuffer(string: smuggled))
            try await client.connection.sendBody(ByteBuffer(string: padding))
            let verdict = try await client.command(".")
            #expect(verdict.code == 550 && verdict.enhancedStatus == "5.6.0", "\(verdict)")

            // The session goes on, on a fresh upstream connection: the half-sent one was closed.
            let replies = try await client.send(to: ["next@example.net"], message: "Subject: next\r\n\r\nclean\r\n")
            #expect(replies.map(\.code) == [250, 250, 354, 250], "the next message got \(replies)")
            await client.quit()

            let record = provider.record.withLockedValue { $0 }
            let received = String(decoding: record.received, as: UTF8.self)
            #expect(!received.contains("evil@example.org") && !received.contains("extra@example.net") && !received.contains("smuggled"),
                    "the provider received bytes after the bare line ending")
            #expect(record.messages.map(\.recipients) == [["next@example.net"]])
            #expect(record.connections == 2, "\(record.connections) connections")
            // The provider sees the close of the first connection on its own thread, in its own time.
            #expect(await eventually { provider.record.withLockedValue { $0.closedInData } == 1 },
                    "the refused message's upstream transaction ends without a terminator")
        }
        }
    }
}
