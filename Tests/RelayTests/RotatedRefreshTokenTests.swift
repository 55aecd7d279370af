import Accounts
import Foundation
import NIOPosix
import Relay
import Sandbox
import SMTPCore
import Testing

/// Rotated refresh tokens outlive a restart when --state-dir is set.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct RotatedRefreshTokenTests {
    @Test func aRestartedProxyUsesTheRotatedRefreshTokenFromTheStateDirectory() async throws {
        let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
        let harness = try await RelayHarness.start { $0.stateDirectory = stateDirectory }
        harness.sandbox.issuer.rotateRefreshTokens = true
        let client = try await harness.client()
        #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
        await client.quit()
        // The provider has now forgotten the mounted refresh token; only the saved one works.
        let saved = try #require(harness.sandbox.issuer.currentRefreshToken(email: harness.accounts[0].email))
        #expect(saved != harness.accounts[0].refreshToken)
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? []
            if files.contains(where: { $0.hasPrefix("refresh-token") || !$0.hasPrefix(".") }) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: stateDirectory)
        #expect(files.count == 1)
        #expect(files.allSatisfy { !$0.contains("user0") && !$0.contains("example") })
        let content = try String(contentsOfFile: stateDirectory + "/" + files[0], encoding: .utf8)
        #expect(!content.contains(harness.accounts[0].refreshToken))

        try await Self.withRestartedProxy(harness) { (second: TestSMTPClient) async throws in
            #expect(try await second.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
        }
        await harness.stop()
    }

    @Test func aRestartedProxyKeepsTheDailyCountsFromTheStateDirectory() async throws {
        let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
        let harness = try await RelayHarness.start(configure: { $0.stateDirectory = stateDirectory },
                                                   limits: AccountLimits(messagesPerDay: 2, concurrentMessages: 5))
        let client = try await harness.client()
        for _ in 0..<2 { #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250) }
        await client.quit()
        await harness.runtime.persistState()

        try await Self.withRestartedProxy(harness) { (second: TestSMTPClient) async throws in
            let third = try await second.command("MAIL FROM:<a@example.com>")
            #expect(third.code == 451)
            #expect(third.lines.first?.contains("max_messages_per_day=2") == true)
        }
        await harness.stop()
    }

    /// A second proxy started as the harness's was (same accounts and state directory), as
    /// after a restart; `body` gets a client logged in as account 0.
    static func withRestartedProxy(_ harness: RelayHarness, _ body: (TestSMTPClient) async throws -> Void) async throws {
        var settings = harness.settings
        settings.server.port = 0
        let group = MultiThreadedEventLoopGroup.singleton
        let restarted = try await ProxyRuntime.start(settings, directory: harness.directory, group: group, logger: harness.logger)
        let serving = Task { try await restarted.server.run() }
        let client = try await TestSMTPClient.connect(port: restarted.server.port, group: group)
        #expect(try await client.login(harness.accounts[0].email, harness.accounts[0].password).code == 235)
        try await body(client)
        await client.quit()
        await restarted.server.close()
        _ = await serving.result
        await restarted.shutdown()
    }
}
