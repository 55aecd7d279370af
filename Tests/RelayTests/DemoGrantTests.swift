import Accounts
import Foundation
import Relay
import Sandbox
import SMTPCore
import TestSupport
import Testing
@testable import XOAuth2ProxyCLI

/// `demo --grant`: the account the demo sets up for each grant relays through the sandbox with a
/// token got by that grant, loaded (for the app-only grants) from a shared credential whose key
/// files are private, and nothing the demo prints holds key material.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DemoGrantTests {
    /// Sets the demo account up against the harness's sandbox, serves it in place of the
    /// harness's accounts, and sends two messages as it (the second must reuse the token).
    static func relayTwice(_ grant: DemoGrant, _ harness: RelayHarness) async throws -> (DemoAccountSetup, String) {
        let stateDirectory = harness.workDirectory + "/demo-\(grant.rawValue)"
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let setup = try DemoAccountSetup.make(grant, sandbox: harness.sandbox, stateDirectory: stateDirectory)
        _ = try await harness.runtime.reload(setup.directory)
        for _ in 1...2 {
            let client = try await harness.client(login: false)
            let login = try await client.login(DemoCommand.email, DemoCommand.password)
            #expect(login.code == 235, "\(login)")
            let replies = try await client.send(from: DemoCommand.email, to: ["someone@example.net"], message: "Subject: demo\r\n\r\nx\r\n")
            #expect(replies.last?.code == 250, "\(replies)")
            await client.quit()
        }
        let users = harness.sandbox.store.messages.map(\.authenticatedUser)
        #expect(users == [DemoCommand.email, DemoCommand.email])
        let printed = ([setup.summary] + setup.notes).joined(separator: "\n")
        #expect(!printed.contains("PRIVATE KEY"))
        #expect(!printed.contains("\"private_key\""))
        return (setup, stateDirectory)
    }

    static func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func refreshTokenIsTheMailboxsOwnGrant() async throws {
        try await withRelayHarness { harness in
            let (setup, _) = try await Self.relayTwice(.refreshToken, harness)
            #expect(setup.directory.accounts.first?.grant.type == .refreshToken)
            #expect(harness.sandbox.issuer.tokenRequestCount(grantType: SandboxGrantType.refreshToken, client: "demo-client") == 1)
        }
    }

    @Test func clientCredentialsUseTheApplicationsCertificateAsASharedCredential() async throws {
        try await withRelayHarness { harness in
            let (setup, directory) = try await Self.relayTwice(.clientCredentials, harness)
            let account = try #require(setup.directory.accounts.first)
            #expect(account.grant.type == .clientCredentials)
            #expect(account.credentialName == DemoAccountSetup.applicationCredential)
            let requests = harness.sandbox.issuer.tokenRequests(grantType: SandboxGrantType.clientCredentials,
                                                                client: DemoAccountSetup.applicationID)
            #expect(requests.map(\.credential) == ["certificate"], "\(requests)")
            #expect(requests.map(\.status) == [200])
            #expect(harness.sandbox.issuer.tokenRequestCount(grantType: SandboxGrantType.refreshToken) == 0)
            #expect(try Self.mode(directory + "/key.pem") == 0o600)
            #expect(try Self.mode(directory + "/accounts.json") == 0o600)
        }
    }

    @Test func serviceAccountAssertsTheDemoMailbox() async throws {
        try await withRelayHarness { harness in
            let (setup, directory) = try await Self.relayTwice(.serviceAccount, harness)
            let account = try #require(setup.directory.accounts.first)
            #expect(account.grant.type == .serviceAccount)
            #expect(account.credentialName == DemoAccountSetup.serviceAccountCredential)
            let requests = harness.sandbox.issuer.tokenRequests(grantType: SandboxGrantType.jwtBearer)
            #expect(requests.map(\.subject) == [DemoCommand.email], "\(requests)")
            #expect(requests.map(\.status) == [200])
            #expect(try Self.mode(directory + "/service-account.json") == 0o600)
        }
    }
}
