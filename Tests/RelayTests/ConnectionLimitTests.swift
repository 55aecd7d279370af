import NIOCore
import Relay
import SMTPCore
import SMTPNIO
import TestSupport
import Testing

@Suite(.serialized, .timeLimit(.minutes(5)))
struct ConnectionLimitTests {
    @Test func connectionsBeyondTheLimitHear421AndTheSlotFreesOnQuit() async throws {
        try await withRelayHarness(configure: { $0.server.maxConnections = 2 }) { harness in
            let first = try await harness.client()
            let second = try await harness.client(login: false)
            await #expect(throws: SMTPNIOError.unexpectedReply(SMTPReply(421, "4.3.2", "Too many connections, try again later"))) {
                _ = try await harness.client(login: false)
            }
            // The sessions already open are not disturbed.
            #expect(try await first.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            await second.quit()
            #expect(await eventually { harness.runtime.server.activeSessions == 1 })
            let third = try await harness.client()
            #expect(try await third.command("NOOP").code == 250)
            await third.quit()
            await first.quit()
        }
    }
}
