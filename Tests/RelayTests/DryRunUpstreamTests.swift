import NIOCore
import NIOPosix
@testable import Relay
import SMTPCore
import SMTPNIO
import TestSupport
import Testing

/// `--dry-run`'s upstream over its socketpair, through the same client connection the relay uses
/// with providers.
struct DryRunUpstreamTests {
    @Test func carriesATransactionPipelinedAndAcceptsIt() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let clock = ManualClock()
        let upstream = DryRunUpstream(connectionLifetime: .seconds(600), now: { clock.now })
        let connection = try await upstream.open(on: loop, heloName: "relay.test", timeouts: .init())
        let client = connection.client
        #expect(client.capabilities.pipelining)
        #expect(connection.tokenExpiresAt == clock.now + .seconds(600))
        #expect(connection.eventLoop === loop)
        let mail = client.send("MAIL FROM:<a@example.com>", step: "MAIL", flush: false)
        let rcpt = client.send("RCPT TO:<b@example.net>", step: "RCPT", flush: false)
        let data = client.send("DATA", step: "DATA", flush: true)
        var codes: [Int] = []
        for reply in [mail, rcpt, data] { codes.append(try await reply.get().code) }
        #expect(codes == [250, 250, 354])
        try await client.sendBody(ByteBuffer(string: "Subject: x\r\n\r\n..dotted\r\n"))
        #expect(try await client.send(".", step: "end of data").get() == SMTPReply(250, "2.0.0", "dry-run: not relayed"))
        #expect(try await client.send("RSET", step: "RSET").get().code == 250)
        #expect(try await client.send("NOOP", step: "NOOP").get().code == 250)
        await connection.quit()
        #expect(!connection.isActive)
    }

    @Test func quitIsAnsweredAndTheProviderHangsUp() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let connection = try await DryRunUpstream().open(on: loop, heloName: "relay.test", timeouts: .init())
        #expect(try await connection.client.send("QUIT", step: "QUIT").get().code == 221)
        // Closed from the provider's end: the relay's end sees it without closing itself.
        #expect(await eventually { !connection.isActive })
    }
}
