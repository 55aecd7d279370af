import Accounts
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
@testable import Relay
import Sandbox
import SMTPCore
import SMTPNIO
import TestSupport
import Testing

/// Issue 13, item 5: a `tls_ca_file` is read again when the configuration is, and a changed one
/// (renewed, or a CA distrusted) takes effect without a restart.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct CAFileReloadTests {
    /// A self-signed CA that did not sign the sandbox's certificate.
    static func strangerPEM() throws -> String {
        try SandboxCertificate.generate(commonName: "not the sandbox").certificatePEM
    }

    static let brokenPEM = "-----BEGIN CERTIFICATE-----\nthis is not base64 at all\n-----END CERTIFICATE-----\n"

    static func sandboxPEM(_ harness: RelayHarness) throws -> String {
        try String(contentsOfFile: try #require(harness.directory.accounts[0].tlsCAFile), encoding: .utf8)
    }

    static func context(_ endpoint: UpstreamEndpoint) throws -> NIOSSLContext {
        guard case .startTLS(let context) = endpoint.tls else { throw TestFailure("expected STARTTLS: \(endpoint.tls)") }
        return context
    }

    /// Connects to the sandbox as the relay would (STARTTLS, verified), then hangs up.
    static func handshake(_ endpoint: UpstreamEndpoint, harness: RelayHarness) async throws {
        let connection = try await SMTPClientConnection.connect(
            .init(host: endpoint.host, port: endpoint.port, tls: endpoint.tls, heloName: "ca.test"), group: harness.group)
        await connection.quit()
    }

    @Test func theContextFollowsTheFileContentsAndSurvivesABrokenFile() async throws {
        try await withRelayHarness { harness in
            let path = harness.workDirectory + "/ca-under-test.pem"
            var account = harness.directory.accounts[0]
            account.tlsCAFile = path
            let contexts = UpstreamTLSContexts()

            try Self.strangerPEM().write(toFile: path, atomically: true, encoding: .utf8)
            let stranger = try contexts.endpoint(for: account)
            // The handshake fails on the certificate, not on anything else.
            do {
                try await Self.handshake(stranger, harness: harness)
                Issue.record("a CA that did not sign the sandbox's certificate was trusted")
            } catch let error as NIOSSLError {
                #expect("\(error)".contains("CERTIFICATE_VERIFY_FAILED"))
            }

            try Self.sandboxPEM(harness).write(toFile: path, atomically: true, encoding: .utf8)
            let trusted = try contexts.endpoint(for: account)
            #expect(try Self.context(trusted) !== Self.context(stranger))
            try await Self.handshake(trusted, harness: harness)
            // Read again, the same bytes keep the same context (and the pool its connections).
            #expect(try Self.context(contexts.endpoint(for: account)) === Self.context(trusted))

            // A broken or missing file is an error naming it; the context built last stays.
            try Self.brokenPEM.write(toFile: path, atomically: true, encoding: .utf8)
            let broken = #expect(throws: UpstreamCAFileError.self) { try contexts.endpoint(for: account) }
            #expect(broken?.path == path)
            #expect(broken?.reason.contains("PEM") == true)
            try FileManager.default.removeItem(atPath: path)
            let missing = #expect(throws: UpstreamCAFileError.self) { try contexts.endpoint(for: account) }
            #expect(missing?.description == "\"\(path)\": No such file or directory")
            try Self.sandboxPEM(harness).write(toFile: path, atomically: true, encoding: .utf8)
            #expect(try Self.context(contexts.endpoint(for: account)) === Self.context(trusted))
        }
    }

    /// Serves account 0 from an accounts directory, with `caPath` as its CA file, and watches
    /// its sources as `serve` does. Returns the reload outcomes and the watching task.
    static func watch(_ harness: RelayHarness, caPath: String) async throws -> (ConfigReloadTests.Outcomes, Task<Void, any Error>) {
        let accountsDirectory = URL(fileURLWithPath: harness.workDirectory).appendingPathComponent("accounts")
        try FileManager.default.createDirectory(at: accountsDirectory, withIntermediateDirectories: true)
        var account = harness.directory.accounts[0]
        account.tlsCAFile = caPath
        try ConfigReloadTests.json(account).write(to: accountsDirectory.appendingPathComponent("acct0.json"),
                                                  atomically: true, encoding: .utf8)
        return try await watchAccounts(in: accountsDirectory.path, harness: harness, expectWatched: caPath)
    }

    /// Loads the accounts in `directory` into the harness's proxy and watches them as `serve`
    /// does; `expectWatched` must be among the paths watched.
    static func watchAccounts(in directory: String, harness: RelayHarness,
                              expectWatched: String) async throws -> (ConfigReloadTests.Outcomes, Task<Void, any Error>) {
        let sources = AccountSources(accountsDirectory: directory)
        let loaded = try AccountSourceLoader.load(sources)
        #expect(loaded.watchPaths.contains(expectWatched))
        _ = try await harness.runtime.reload(loaded.directory)

        let outcomes = ConfigReloadTests.Outcomes()
        var hooks = ConfigReloadService.Hooks()
        hooks.didReload = { outcomes.append($0) }
        var settings = ConfigReloadService.Configuration()
        settings.debounce = .milliseconds(50)
        let reloader = ConfigReloadService(sources: sources, loaded: loaded, runtime: harness.runtime, configuration: settings,
                                           hooks: hooks, logger: harness.logger)
        return (outcomes, Task { try await reloader.run() })
    }

    /// The first reload outcome after the `after` ones already seen that `matches`. A Secret
    /// swap is several file events, so one swap may bring more than one reload (a rejected file
    /// is rejected again; an applied one is then unchanged and not reported).
    static func next(_ outcomes: ConfigReloadTests.Outcomes, after seen: inout Int,
                     _ matches: (ConfigReloadService.Outcome) -> Bool) async throws -> ConfigReloadService.Outcome {
        let start = seen
        guard await eventually({ outcomes.all.dropFirst(start).contains(where: matches) }),
              let index = outcomes.all.indices.dropFirst(start).first(where: { matches(outcomes.all[$0]) }) else {
            throw TestFailure("no such reload after the swap; outcomes: \(outcomes.all)")
        }
        seen = index + 1
        return outcomes.all[index]
    }

    static func send(_ client: TestSMTPClient) async throws -> [SMTPReply] {
        try await client.send(to: ["ca@example.net"], message: "Subject: ca\r\n\r\nx\r\n")
    }

    /// The CA file is a key of a mounted Secret; the kubelet swaps `..data` and the watcher reloads.
    @Test func aCAFileSwappedInItsSecretIsTrustedAndDistrustedWithoutARestart() async throws {
        try await withRelayHarness { harness in
            var caMount = SecretMount(root: URL(fileURLWithPath: harness.workDirectory).appendingPathComponent("ca-secret"))
            try FileManager.default.createDirectory(at: caMount.root, withIntermediateDirectories: true)
            try caMount.update(["ca.crt": Self.strangerPEM()])
            let caPath = caMount.path + "/ca.crt"
            // The mount's own links stay inside it: its directory is the one watched.
            #expect(ConfigReloadService.directories(of: [caPath]) == [caMount.path])
            let sandboxPEM = try Self.sandboxPEM(harness)
            let (outcomes, watching) = try await Self.watch(harness, caPath: caPath)
            defer { watching.cancel() }  // also when the test fails half-way

            let client = try await harness.client()
            // Trusting a stranger, the provider's certificate is refused: nothing is relayed.
            let refused = try await Self.send(client)
            #expect(refused.first?.code == 451)
            #expect(refused.first?.enhancedStatus == "4.4.1")
            #expect(harness.sandbox.store.messages.isEmpty)

            // The sandbox's CA arrives: the same session relays, nothing restarted.
            var seen = 0
            try caMount.update(["ca.crt": sandboxPEM])
            #expect(try await Self.next(outcomes, after: &seen) { _ in true } == .applied(AccountChanges(changed: ["acct0"])))
            #expect(try await Self.send(client).last?.code == 250)
            #expect(harness.sandbox.store.messages.count == 1)

            // A broken CA file changes nothing: the error names it, the last good context stays.
            try caMount.update(["ca.crt": Self.brokenPEM])
            guard case .invalid(let reason) = try await Self.next(outcomes, after: &seen, { _ in true }) else {
                throw TestFailure("expected an invalid reload: \(outcomes.all)")
            }
            #expect(reason.contains(caPath))
            #expect(reason.contains("tls_ca_file"))
            #expect(try await Self.send(client).last?.code == 250)

            // The CA is distrusted: the pooled connection it verified is retired, and a new one fails.
            try caMount.update(["ca.crt": Self.strangerPEM()])
            let distrust = try await Self.next(outcomes, after: &seen) { if case .invalid = $0 { false } else { true } }
            #expect(distrust == .applied(AccountChanges(changed: ["acct0"])))
            let distrusted = try await Self.send(client)
            #expect(distrusted.first?.code == 451)
            #expect(harness.sandbox.store.messages.count == 2)

            await client.quit()
            watching.cancel()
            _ = await watching.result
        }
    }

    /// `tls_ca_file` names a link in one directory to a file in another (as in /etc/ssl/certs):
    /// the file is replaced where it lives, and that directory is watched too.
    @Test func aCAFileLinkedFromAnotherDirectoryIsWatchedWhereTheLinkLeads() async throws {
        try await withRelayHarness { harness in
            let work = URL(fileURLWithPath: harness.workDirectory)
            let store = work.appendingPathComponent("ca-store")
            let links = work.appendingPathComponent("certs")
            for directory in [store, links] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
            let target = store.appendingPathComponent("corp.crt").path
            let caPath = links.appendingPathComponent("corp.pem").path
            try Self.strangerPEM().write(toFile: target, atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: caPath, withDestinationPath: target)
            #expect(ConfigReloadService.directories(of: [caPath]) == [store.path, links.path].sorted())
            let (outcomes, watching) = try await Self.watch(harness, caPath: caPath)
            defer { watching.cancel() }

            let client = try await harness.client()
            #expect(try await Self.send(client).first?.code == 451)
            // Replaced where it lives (written beside it, renamed over it); the link is untouched.
            try Self.sandboxPEM(harness).write(toFile: target, atomically: true, encoding: .utf8)
            var seen = 0
            #expect(try await Self.next(outcomes, after: &seen) { _ in true } == .applied(AccountChanges(changed: ["acct0"])))
            #expect(try await Self.send(client).last?.code == 250)

            await client.quit()
            watching.cancel()
            _ = await watching.result
        }
    }
}
