import NIOCore
import NIOPosix
import TestSupport
import Testing
@testable import Ops

/// Issue 13, item 11: connections that send half a request and then nothing must not keep the
/// kubelet's probes from an answer.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct AdminServerFloodTests {
    /// The start of a request whose head never ends.
    static let partialHead = "GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: slow"

    /// `count` connections, opened one after the other, each having sent `partialHead`.
    static func openSlowConnections(_ count: Int, port: Int) async throws -> [any Channel] {
        var channels: [any Channel] = []
        channels.reserveCapacity(count)
        do {
            for _ in 0..<count {
                let channel = try await RawHTTPClient.hold(port: port)
                channels.append(channel)
                // A server that already hung up fails the write; the probes below are the test.
                try? await channel.writeAndFlush(ByteBuffer(string: partialHead))
            }
        } catch {
            for channel in channels { channel.close(promise: nil) }
            throw error
        }
        return channels
    }

    static func close(_ channels: [any Channel]) async {
        for channel in channels { try? await channel.close() }
    }

    /// Deadlines far beyond the test, so the slow connections stay open while the probes run.
    static var patientLimits: AdminServer.Limits {
        var limits = AdminServer.Limits()
        limits.headerTimeout = .hours(1)
        limits.connectionTimeout = .hours(1)
        return limits
    }

    @Test func probesAreAnsweredWhileFiveHundredSlowConnectionsAreOpen() async throws {
        try await withAdminHarness(limits: Self.patientLimits) { admin in
            let slow = try await Self.openSlowConnections(500, port: admin.port)
            defer { Task { await Self.close(slow) } }
            #expect(await eventually { admin.server.activeConnections == 500 })

            for _ in 0..<5 {
                #expect(try await RawHTTPClient.get("/healthz", port: admin.port).status == 200)
                #expect(try await RawHTTPClient.get("/readyz", port: admin.port).status == 200)
            }
            // The default cap holds them all: nobody had to give up a slot.
            #expect(slow.allSatisfy { $0.isActive })
            await Self.close(slow)
            #expect(await eventually { admin.server.activeConnections == 0 })
        }
    }

    @Test func aFullPortClosesTheOldestSlowConnectionsToAnswerProbes() async throws {
        var limits = Self.patientLimits
        limits.maxConnections = 64
        try await withAdminHarness(limits: limits) { admin in
            let slow = try await Self.openSlowConnections(500, port: admin.port)
            defer { Task { await Self.close(slow) } }
            // Each newcomer beyond 64 took the slot of the oldest: 436 were closed by the server.
            #expect(await eventually { slow.count { $0.isActive } == 64 })
            #expect(admin.server.activeConnections == 64)

            for _ in 0..<5 {
                #expect(try await RawHTTPClient.get("/healthz", port: admin.port).status == 200)
            }
            // The first probe took one more slow connection's slot and gave it back when done;
            // the later ones found it free.
            #expect(await eventually { slow.count { $0.isActive } == 63 })
            #expect(await eventually { admin.server.activeConnections == 63 })
            await Self.close(slow)
        }
    }

    @Test func aHeadNotCompletedInTimeIsClosedButAWholeHeadIsAnswered() async throws {
        var limits = Self.patientLimits
        limits.headerTimeout = .milliseconds(200)
        try await withAdminHarness(limits: limits) { admin in
            let port = admin.port
            // The whole head first: its header deadline is cancelled, though its body comes late.
            let complete = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            let reply = try await withDeadline {
                try await complete.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n"))
                    // A later connection that never finishes its head is closed by its deadline,
                    // so by then this one's deadline has passed as well.
                    let started = ContinuousClock.now
                    let cut = try await RawHTTPClient.exchange(port: port, send: Array(Self.partialHead.utf8))
                    #expect(cut.isEmpty)
                    #expect(ContinuousClock.now - started >= .milliseconds(150))
                    try await outbound.write(ByteBuffer(string: "body"))
                    var received: [UInt8] = []
                    for try await chunk in inbound { received += chunk.readableBytesView }
                    return received
                }
            }
            let parsed = try RawHTTPClient.parse(reply)
            #expect(parsed.status == 200)
            #expect(parsed.body == "ok")
        }
    }
}
