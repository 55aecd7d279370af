import Accounts
import Foundation
import Relay
import Sandbox
import SMTPCore
import TestSupport
import Testing

/// Rotated refresh tokens outlive a restart when --state-dir is set.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct RotatedRefreshTokenTests {
    @Test func aRestartedProxyUsesTheRotatedRefreshTokenFromTheStateDirectory() async throws {
        let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
        try await withRelayHarness(configure: { $0.stateDirectory = stateDirectory }) { harness in
            harness.sandbox.issuer.rotateRefreshTokens = true
            let client = try await harness.client()
            #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            await client.quit()
            // The provider has now forgotten the mounted refresh token; only the saved one works.
            let saved = try #require(harness.sandbox.issuer.currentRefreshToken(email: harness.accounts[0].email))
            #expect(saved != harness.accounts[0].refreshToken)
            #expect(await eventually {
                let files = (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? []
                return files.contains { $0.hasPrefix("refresh-token") || !$0.hasPrefix(".") }
            })
            let files = try FileManager.default.contentsOfDirectory(atPath: stateDirectory)
            #expect(files.count == 1)
            #expect(files.allSatisfy { !$0.contains("user0") && !$0.contains("example") })
            let content = try String(contentsOfFile: stateDirectory + "/" + files[0], encoding: .utf8)
            let mounted = try #require(harness.accounts[0].refreshToken)
            #expect(!content.contains(mounted))

            try await harness.withRestartedProxy { (second: TestSMTPClient) async throws in
                #expect(try await second.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
            }
        }
    }

    @Test func aRestartedProxyKeepsTheDailyCountsFromTheStateDirectory() async throws {
        let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
        try await withRelayHarness(configure: { $0.stateDirectory = stateDirectory },
                                   limits: AccountLimits(messagesPerDay: 2, concurrentMessages: 5)) { harness in
            let client = try await harness.client()
            for _ in 0..<2 { #expect(try await client.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250) }
            await client.quit()
            await harness.runtime.persistState()

            try await harness.withRestartedProxy { second in
                let third = try await second.command("MAIL FROM:<a@example.com>")
                #expect(third.code == 451)
                #expect(third.lines.first?.contains("max_messages_per_day=2") == true)
            }
        }
    }
}
