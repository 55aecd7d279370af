import Accounts
import Foundation
import Relay
import Sandbox
import SMTPCore
import TestSupport
import Testing

/// Issue 12 end to end: accounts whose tokens come from one application credential (or the
/// cluster's identity), loaded from an accounts document with `credentials`, relayed through the
/// sandbox, which checks every assertion and that each token is presented with a mailbox its
/// application may use.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct AppOnlyGrantTests {
    static let password = "app-only-password"

    /// Loads `json` (with the sandbox's CA and port filled in) in place of the harness's accounts.
    static func load(_ harness: RelayHarness, _ json: String, environment: [String: String] = [:]) async throws -> [Account] {
        let caFile = try #require(harness.directory.accounts[0].tlsCAFile)
        let endpoint = #""smtp_host": "127.0.0.1", "smtp_port": \#(harness.sandbox.smtpPort), "tls_ca_file": "\#(caFile)""#
        let document = json.replacingOccurrences(of: "ENDPOINT", with: endpoint)
            .replacingOccurrences(of: "TOKEN_URL", with: harness.sandbox.tokenURL)
        let path = harness.workDirectory + "/accounts-\(UUID().uuidString).json"
        try document.write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = try AccountSourceLoader.load(AccountSources(configFile: path, environment: environment))
        _ = try await harness.runtime.reload(loaded.directory)
        return loaded.directory.accounts
    }

    /// Logs in as `email` and sends one message; returns the last reply.
    static func send(_ harness: RelayHarness, from email: String) async throws -> SMTPReply? {
        let client = try await harness.client(login: false)
        let login = try await client.login(email, password)
        guard login.code == 235 else { throw TestFailure("login as \(email): \(login)") }
        let replies = try await client.send(from: email, to: ["rcpt@example.net"], message: "Subject: from \(email)\r\n\r\nx\r\n")
        await client.quit()
        return replies.last
    }

    static func mailboxes(_ names: [String], credential: String, domain: String) -> String {
        names.map { #"{"email": "\#($0)@\#(domain)", "credential": "\#(credential)", "password": "\#(password)"}"# }
            .joined(separator: ",\n")
    }

    @Test func tenMailboxesOnOneCertificateCredentialCostOneTokenRequest() async throws {
        try await withRelayHarness { harness in
            let app = try harness.sandbox.issuer.registerApplication(
                clientID: "contoso-app", credential: .generatedCertificate, domains: ["contoso.example"])
            try #require(app.certificatePEM).write(toFile: harness.workDirectory + "/app.crt", atomically: true, encoding: .utf8)
            try #require(app.privateKeyPEM).write(toFile: harness.workDirectory + "/app.key", atomically: true, encoding: .utf8)
            let names = (1...10).map { "box\($0)" }
            let accounts = try await Self.load(harness, """
            {"credentials": {"contoso-app": {"provider": "outlook", "grant": "client_credentials", "client_id": "contoso-app",
                             "token_url": "TOKEN_URL", "certificate_file": "app.crt", "private_key_file": "app.key", ENDPOINT}},
             "accounts": [\(Self.mailboxes(names, credential: "contoso-app", domain: "contoso.example"))]}
            """)
            #expect(accounts.count == 10)
            for name in names {
                #expect(try await Self.send(harness, from: "\(name)@contoso.example")?.code == 250)
            }
            let requests = harness.sandbox.issuer.tokenRequests(grantType: "client_credentials", client: "contoso-app")
            #expect(requests.count == 1, "\(requests)")
            #expect(requests.first?.credential == "certificate")
            #expect(requests.first?.status == 200)
            let users = harness.sandbox.store.messages.map(\.authenticatedUser)
            #expect(users.sorted() == names.map { "\($0)@contoso.example" }.sorted())
            // /accounts: each mailbox shows the grant and credential, and the one shared token.
            let statuses = harness.runtime.server.accounts.statuses()
            #expect(statuses.count == 10)
            #expect(statuses.allSatisfy { $0.grant == .clientCredentials && $0.credential == "contoso-app" && $0.tokenExpiresIn != nil })
        }
    }

    /// The application's token is good for its own mailboxes only: the provider refuses it for
    /// another, and the proxy reports that as the account's credentials problem.
    @Test func aMailboxTheApplicationMayNotUseIsRefusedUpstream() async throws {
        try await withRelayHarness { harness in
            try harness.sandbox.issuer.registerApplication(clientID: "narrow-app", credential: .secret("app-secret-1"),
                                                           mailboxes: ["allowed@contoso.example"])
            _ = try await Self.load(harness, """
            {"credentials": {"narrow": {"provider": "outlook", "grant": "client_credentials", "client_id": "narrow-app",
                             "client_secret": "app-secret-1", "token_url": "TOKEN_URL", ENDPOINT}},
             "accounts": [\(Self.mailboxes(["allowed", "other"], credential: "narrow", domain: "contoso.example"))]}
            """)
            #expect(try await Self.send(harness, from: "allowed@contoso.example")?.code == 250)
            let refused = try await Self.send(harness, from: "other@contoso.example")
            #expect(refused.map { $0.code / 100 == 4 || $0.code / 100 == 5 } == true, "\(String(describing: refused))")
            #expect(harness.sandbox.store.messages.map(\.authenticatedUser) == ["allowed@contoso.example"])
            // The refusal made the proxy fetch the application's token once more (as after any
            // refused token); the mailbox's failures then stop further requests.
            #expect(harness.sandbox.issuer.tokenRequestCount(grantType: "client_credentials", client: "narrow-app") == 2)
            #expect(try await Self.send(harness, from: "allowed@contoso.example")?.code == 250)
        }
    }

    @Test func threeServiceAccountMailboxesEachGetTheirOwnAssertion() async throws {
        try await withRelayHarness { harness in
            let key = try harness.sandbox.issuer.makeServiceAccount(domains: ["acme.example"])
            try key.write(to: harness.workDirectory + "/sa.json")
            let names = ["ops", "sales", "billing"]
            _ = try await Self.load(harness, """
            {"credentials": {"acme-dwd": {"provider": "gmail", "grant": "service_account", "service_account_file": "sa.json", ENDPOINT}},
             "accounts": [\(Self.mailboxes(names, credential: "acme-dwd", domain: "acme.example"))]}
            """)
            for name in names {
                #expect(try await Self.send(harness, from: "\(name)@acme.example")?.code == 250)
            }
            let subjects = harness.sandbox.issuer.assertionSubjects(serviceAccount: key.email)
            #expect(subjects.sorted() == names.map { "\($0)@acme.example" }.sorted())
            #expect(harness.sandbox.issuer.tokenRequests(grantType: "urn:ietf:params:oauth:grant-type:jwt-bearer", client: key.email)
                .allSatisfy { $0.status == 200 })
        }
    }

    /// AKS: the projected token file is the client assertion and is read for every request;
    /// GKE: metadata token, signJwt, exchange.
    @Test func workloadIdentityOnBothClouds() async throws {
        try await withRelayHarness { harness in
            let issuer = harness.sandbox.issuer
            try issuer.registerApplication(clientID: "aks-app", credential: .federated(subject: "system:serviceaccount:mail:relay"),
                                           domains: ["contoso.example"])
            let tokenFile = harness.workDirectory + "/azure-identity-token"
            try issuer.issueFederatedToken(subject: "system:serviceaccount:mail:relay").write(toFile: tokenFile, atomically: true, encoding: .utf8)
            let key = try issuer.makeServiceAccount(name: "gke-relay", domains: ["acme.example"])
            issuer.allowWorkloadIdentity(serviceAccounts: [key.email])
            // The account names no file: AZURE_FEDERATED_TOKEN_FILE is what the AKS webhook sets.
            setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile, 1)
            defer { unsetenv("AZURE_FEDERATED_TOKEN_FILE") }
            _ = try await Self.load(harness, """
            {"credentials": {
               "aks": {"provider": "outlook", "grant": "workload_identity", "client_id": "aks-app", "token_url": "TOKEN_URL", ENDPOINT},
               "gke": {"provider": "gmail", "grant": "workload_identity", "service_account_email": "\(key.email)",
                       "metadata_host": "\(harness.sandbox.metadataHost)", "iam_credentials_url": "\(harness.sandbox.baseURL)",
                       "token_url": "TOKEN_URL", ENDPOINT}},
             "accounts": [\(Self.mailboxes(["a", "b"], credential: "aks", domain: "contoso.example")),
                          \(Self.mailboxes(["c"], credential: "gke", domain: "acme.example"))]}
            """)
            #expect(try await Self.send(harness, from: "a@contoso.example")?.code == 250)
            #expect(try await Self.send(harness, from: "b@contoso.example")?.code == 250)
            #expect(try await Self.send(harness, from: "c@acme.example")?.code == 250)
            #expect(issuer.tokenRequests(grantType: "client_credentials", client: "aks-app").map(\.credential) == ["federated"])
            #expect(issuer.assertionSubjects(serviceAccount: key.email) == ["c@acme.example"])
        }
    }

    /// A service-account key replaced in place (a rotated key, here even another account's) is
    /// used without a restart: the watcher covers key files, and the changed key drops the
    /// mailbox's cached token.
    @Test func aReplacedServiceAccountKeyIsUsedWithoutARestart() async throws {
        try await withRelayHarness { harness in
            let issuer = harness.sandbox.issuer
            let old = try issuer.makeServiceAccount(name: "old-key", domains: ["acme.example"])
            let new = try issuer.makeServiceAccount(name: "new-key", domains: ["acme.example"])
            let directory = URL(fileURLWithPath: harness.workDirectory).appendingPathComponent("accounts")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let keyPath = harness.workDirectory + "/sa.json"
            try old.write(to: keyPath)
            let caFile = try #require(harness.directory.accounts[0].tlsCAFile)
            try """
            {"credentials": {"dwd": {"provider": "gmail", "grant": "service_account", "service_account_file": "\(keyPath)",
                                     "smtp_host": "127.0.0.1", "smtp_port": \(harness.sandbox.smtpPort), "tls_ca_file": "\(caFile)"}},
             "accounts": [\(Self.mailboxes(["ops"], credential: "dwd", domain: "acme.example"))]}
            """.write(to: directory.appendingPathComponent("acme.json"), atomically: true, encoding: .utf8)
            let (outcomes, watching) = try await CAFileReloadTests.watchAccounts(in: directory.path, harness: harness, expectWatched: keyPath)
            defer { watching.cancel() }

            #expect(try await Self.send(harness, from: "ops@acme.example")?.code == 250)
            #expect(issuer.assertionSubjects(serviceAccount: old.email) == ["ops@acme.example"])
            try new.write(to: keyPath)
            #expect(await eventually { outcomes.all.contains { if case .applied(let changes) = $0 { changes.changed == ["ops@acme.example"] } else { false } } },
                    "\(outcomes.all)")
            // The pooled connection authenticated with the old token is retired with the change.
            #expect(try await Self.send(harness, from: "ops@acme.example")?.code == 250)
            #expect(issuer.assertionSubjects(serviceAccount: new.email) == ["ops@acme.example"])
            #expect(issuer.assertionSubjects(serviceAccount: old.email).count == 1)
        }
    }
}
