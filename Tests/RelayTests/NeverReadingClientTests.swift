import NIOCore
import NIOPosix
import Relay
import TestSupport
import Testing

/// Issue 13, item 9 end to end: a client that floods commands and never reads a reply. The
/// proxy stops reading it once 128 replies are owed, its replies fill the socket buffers, and
/// once they have not drained for the idle timeout the connection is closed; the session and
/// its slot are freed. (The framing handler's own test drives the same rule with a fake clock.)
@Suite(.serialized, .timeLimit(.minutes(5)))
struct NeverReadingClientTests {
    /// Never reads: no autoRead, and a small receive buffer so the proxy's replies back up soon.
    static func connect(port: Int, group: any EventLoopGroup) async throws -> any Channel {
        try await ClientBootstrap(group: group)
            .channelOption(.autoRead, value: false)
            .channelOption(.socketOption(.so_rcvbuf), value: 4096)
            .connect(host: "127.0.0.1", port: port)
            .get()
    }

    @Test func aFloodingClientThatNeverReadsIsClosedAndItsSlotFreed() async throws {
        // Long enough that a starved test process still starts flooding before the connection
        // counts as idle (with 1 s, under two busy loops, it was closed before the first write).
        try await withRelayHarness(configure: { $0.server.idleTimeout = .seconds(5) }) { harness in
            let channel = try await Self.connect(port: harness.port, group: harness.group)
            // EHLO's reply is a few hundred bytes: the replies outgrow the buffers quickly.
            let burst = String(repeating: "EHLO flood.example\r\n", count: 200)
            let flooding = Task {
                var sent = 0
                while channel.isActive {
                    do {
                        try await channel.writeAndFlush(ByteBuffer(string: burst))
                        sent += 1
                    } catch {
                        break
                    }
                }
                return sent
            }
            let start = ContinuousClock.now
            #expect(await eventually(within: .seconds(180)) { !channel.isActive })
            let bursts = await flooding.value
            #expect(bursts > 0)
            #expect(await eventually { harness.runtime.server.activeSessions == 0 })
            print("never-reading client: closed after \(ContinuousClock.now - start), \(bursts) bursts of 200 EHLO written")
            // The proxy still serves others.
            let client = try await harness.client()
            #expect(try await client.command("NOOP").code == 250)
            await client.quit()
        }
    }
}
