import Accounts
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Relay
import Sandbox
import SMTPCore
import TestSupport
import Testing

/// Hot reload through a real Kubernetes-style `..data` symlink swap, watched with inotify.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ConfigReloadTests {
    /// The JSON a Secret key would hold for `account`.
    static func json(_ account: Account, password: String? = nil, refreshToken: String? = nil) -> String {
        let fields: [(String, String)] = [
            ("account_id", account.accountID), ("email", account.email), ("provider", "custom"), ("client_id", account.clientID),
            ("client_secret", account.clientSecret ?? ""), ("refresh_token", refreshToken ?? account.refreshToken ?? ""),
            ("password", password ?? account.password ?? ""), ("token_url", account.tokenURL), ("smtp_host", account.smtpHost),
            ("smtp_tls", account.smtpTLS.rawValue), ("tls_ca_file", account.tlsCAFile ?? ""),
        ]
        let members = fields.map { "\"\($0.0)\": \"\($0.1)\"" } + ["\"smtp_port\": \(account.smtpPort)"]
        return "{" + members.joined(separator: ", ") + "}"
    }

    final class Outcomes: Sendable {
        private let box = NIOLockedValueBox<[ConfigReloadService.Outcome]>([])
        func append(_ outcome: ConfigReloadService.Outcome) { box.withLockedValue { $0.append(outcome) } }
        var all: [ConfigReloadService.Outcome] { box.withLockedValue { $0 } }

        func wait(for count: Int) async throws {
            guard await eventually({ all.count >= count }) else { throw TestFailure("no reload after the swap") }
        }
    }

    @Test func secretSwapAddsChangesAndRemovesAccountsWithoutDisturbingTransactionsInFlight() async throws {
        try await withRelayHarness(accounts: 3) { harness in
            let accounts = harness.directory.accounts
            let root = URL(fileURLWithPath: harness.workDirectory).appendingPathComponent("secret")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            var mount = SecretMount(root: root)
            // The proxy starts with accounts 0 and 1; account 2 arrives with the swap.
            try mount.update(["acct0.json": Self.json(accounts[0]), "acct1.json": Self.json(accounts[1])])
            let sources = AccountSources(accountsDirectory: mount.path)
            let loaded = try AccountSourceLoader.load(sources)
            _ = try await harness.runtime.reload(loaded.directory)

            let outcomes = Outcomes()
            var hooks = ConfigReloadService.Hooks()
            hooks.didReload = { outcomes.append($0) }
            var settings = ConfigReloadService.Configuration()
            settings.debounce = .milliseconds(50)
            let logger = harness.logger
            let reloader = ConfigReloadService(sources: sources, loaded: loaded, runtime: harness.runtime, configuration: settings,
                                               hooks: hooks, logger: logger)
            let watching = Task { try await reloader.run() }
            defer { watching.cancel() }  // also when the test fails half-way

            let inFlight = try await harness.client(account: 0)
            _ = try await ShutdownDrainTests.startTransaction(inFlight, id: 0)
            let leaving = try await harness.client(account: 1)
            await #expect(throws: TestFailure.self) { _ = try await harness.client(account: 2) }

            // Account 0 gets a new refresh token and password, 1 is removed, 2 is added.
            let newRefresh = "rotated-by-operator-\(UUID().uuidString)"
            harness.sandbox.issuer.register(email: accounts[0].email, clientID: accounts[0].clientID,
                                            clientSecret: accounts[0].clientSecret, refreshToken: newRefresh)
            try mount.update(["acct0.json": Self.json(accounts[0], password: "new-password", refreshToken: newRefresh),
                              "acct2.json": Self.json(accounts[2])])
            try await outcomes.wait(for: 1)
            #expect(outcomes.all.first == .applied(AccountChanges(added: ["acct2"], changed: ["acct0"], removed: ["acct1"], unchanged: 0)))

            // The transaction that started before the swap finishes as it began.
            try await inFlight.connection.sendBody(ByteBuffer(string: "second half\r\n"))
            #expect(try await inFlight.command(".").code == 250)
            // A removed account takes no new transactions.
            let refused = try await leaving.command("MAIL FROM:<a@example.com>")
            #expect(refused.code == 454)
            #expect(refused.enhancedStatus == "4.7.0")
            // The added account works; the changed one with its new password.
            let added = try await harness.client(account: 2)
            #expect(try await added.send(to: ["c@example.net"], message: "x\r\n").last?.code == 250)
            let changed = try await harness.client(login: false)
            #expect(try await changed.login(accounts[0].email, "new-password").code == 235)
            #expect(try await changed.send(to: ["d@example.net"], message: "x\r\n").last?.code == 250)

            // An invalid update changes nothing and names the file and field.
            try mount.update(["acct0.json": Self.json(accounts[0], password: "new-password", refreshToken: newRefresh),
                              "acct2.json": #"{"email": "broken@example.com", "provider": "custom"}"#])
            try await outcomes.wait(for: 2)
            guard case .invalid(let reason) = outcomes.all.last else { throw TestFailure("expected an invalid reload") }
            #expect(reason.contains("acct2.json"))
            #expect(reason.contains("client_id"))
            #expect(try await added.send(to: ["c@example.net"], message: "x\r\n").last?.code == 250)

            for client in [inFlight, leaving, added, changed] { await client.quit() }
            watching.cancel()
            _ = await watching.result
        }
    }
}
