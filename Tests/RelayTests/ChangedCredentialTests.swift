import Accounts
import Relay
import SMTPCore
import TestSupport
import Testing

/// A reload that changes an account's password, or removes the account, ends the sessions
/// that logged in with the old credential at their next MAIL (issue 13, item 4).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ChangedCredentialTests {
    @Test func sessionsWithAChangedOrRemovedCredentialHear454AndAreClosed() async throws {
        try await withRelayHarness(accounts: 3) { harness in
            let accounts = harness.directory.accounts
            let changed = try await harness.client(account: 0)
            let removed = try await harness.client(account: 1)
            let untouched = try await harness.client(account: 2)
            #expect(try await changed.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)

            var newPassword = accounts[0]
            newPassword.password = "a-new-password"
            _ = try await harness.runtime.reload(try AccountDirectory(accounts: [newPassword, accounts[2]], source: "test reload"))

            for client in [changed, removed] {
                let reply = try await client.command("MAIL FROM:<a@example.com>")
                #expect(reply.code == 454)
                #expect(reply.enhancedStatus == "4.7.0")
                #expect(await eventually { !client.connection.isActive }, "the session is closed after the reply")
            }
            #expect(try await untouched.send(to: ["c@example.net"], message: "x\r\n").last?.code == 250)
            let again = try await harness.client(account: 0, login: false)
            #expect(try await again.login(accounts[0].email, "a-new-password").code == 235)
            #expect(try await again.send(to: ["d@example.net"], message: "x\r\n").last?.code == 250)
        }
    }
}
