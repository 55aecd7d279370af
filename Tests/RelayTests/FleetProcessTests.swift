import FleetState
import Foundation
import Logging
import NIOPosix
import PostgresTestSupport
import Sandbox
import TestSupport
import Testing

/// Fleet mode as deployed: three `serve` processes (uid 65532, no capabilities, read-only root
/// where the machine can make one) against one PostgreSQL server and one sandbox, the state URL
/// read from a mounted file. Real clocks: the 100 messages take seconds, the window a minute.
@Suite(.serialized, .timeLimit(.minutes(3)), .enabled(if: PostgresTestServer.testsEnabled, "PostgreSQL is not installed"))
struct FleetProcessTests {
    /// One account (`fleet@example.com`, max_messages_per_minute 30) in a mounted Secret, a
    /// sandbox, a fresh database and its URL in a file.
    struct Deployment {
        let sandbox: SandboxProvider
        let server: PostgresTestServer
        let url: FleetStateURL
        let work: URL
        let accounts: String
        let urlFile: URL
        let password: String

        func writeURL(password: String, to file: URL) throws {
            try Data("postgres://\(url.user):\(password)@\(url.host):\(url.port)/\(url.database)?sslmode=disable\n".utf8).write(to: file)
        }
    }

    static func withDeployment(_ body: (Deployment) async throws -> Void) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = try await PostgresTestServer.shared()
        let url = FleetStateURL(user: server.superuser, password: server.password, host: server.host, port: server.port,
                                database: try await server.makeDatabase(), sslMode: .disable)
        let sandbox = try await SandboxProvider.start(SandboxProvider.Configuration(), group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let sandboxTask = Task { try await sandbox.run() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        do {
            try FileManager.default.createDirectory(at: work.appendingPathComponent("secret"), withIntermediateDirectories: true)
            let caFile = try sandbox.writeCertificate(toDirectory: work.path)
            let secret = (clientSecret: "cs-\(UUID().uuidString)", refreshToken: "rt-\(UUID().uuidString)", password: "pw-\(UUID().uuidString)")
            sandbox.issuer.register(email: "fleet@example.com", clientID: "client-fleet", clientSecret: secret.clientSecret,
                                    refreshToken: secret.refreshToken)
            var mount = SecretMount(root: work.appendingPathComponent("secret"))
            try mount.update(["fleet.json": """
                {"account_id": "fleet", "email": "fleet@example.com", "provider": "custom", "client_id": "client-fleet",
                 "client_secret": "\(secret.clientSecret)", "refresh_token": "\(secret.refreshToken)", "password": "\(secret.password)",
                 "token_url": "\(sandbox.tokenURL)", "smtp_host": "127.0.0.1", "smtp_port": \(sandbox.smtpPort), "tls_ca_file": "\(caFile)",
                 "max_messages_per_minute": 30}
                """])
            // The URL holds the password: a file, as the chart mounts it, never an argument.
            let deployment = Deployment(sandbox: sandbox, server: server, url: url, work: work, accounts: mount.path,
                                        urlFile: work.appendingPathComponent("state-url"), password: secret.password)
            try deployment.writeURL(password: server.password, to: deployment.urlFile)
            try await body(deployment)
        } catch {
            await sandbox.close()
            _ = await sandboxTask.result
            throw error
        }
        await sandbox.close()
        _ = await sandboxTask.result
    }

    @Test("check --state-url-file: the database's state, and a refused login exits 3 without the password")
    func checkReportsTheDatabase() async throws {
        try await Self.withDeployment { deployment in
            let fresh = try await Binary.run(["check", "--accounts-dir", deployment.accounts, "--state-url-file", deployment.urlFile.path])
            #expect(fresh.status == 0, "\(fresh.stdout)\(fresh.stderr)")
            #expect(fresh.stdout.contains("state database postgres://postgres:<redacted>@127.0.0.1:\(deployment.url.port)/\(deployment.url.database)?sslmode=disable: reachable; no schema yet"),
                    "\(fresh.stdout)")

            let wrong = deployment.work.appendingPathComponent("wrong-url")
            try deployment.writeURL(password: "not-the-password", to: wrong)
            let refused = try await Binary.run(["check", "--accounts-dir", deployment.accounts, "--state-url-file", wrong.path, "--json"])
            #expect(refused.status == 3)
            #expect(refused.stdout.contains(#""state_database":{"url":"postgres://postgres:<redacted>@"#), "\(refused.stdout)")
            #expect(refused.stdout.contains(#""passed":false"#))
            #expect(refused.stdout.contains(#""token":"ok""#))
            #expect(!(refused.stdout + refused.stderr).contains("not-the-password"))
        }
    }

    @Test("three serve processes, max_messages_per_minute 30: 100 messages across them, exactly 30 relayed")
    func threeProcessesShareTheMinuteLimit() async throws {
        try await Self.withDeployment { deployment in
            try await Self.threeProcesses(deployment)
        }
    }

    static func threeProcesses(_ deployment: Deployment) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let (sandbox, server, work, urlFile) = (deployment.sandbox, deployment.server, deployment.work, deployment.urlFile)
        let readOnlyRoot = AsDeployed.canMakeReadOnlyRoot
        var replicas: [ServeProcessTests.ServeProcess] = []
        defer { for replica in replicas { replica.stop() } }
        for _ in 0..<3 {
            replicas.append(try await ServeProcessTests.ServeProcess.start(
                ["serve", "--accounts-dir", deployment.accounts, "--state-url-file", urlFile.path, "--fleet-size-hint", "3", "--log-level", "info"],
                in: work, readOnlyRoot: readOnlyRoot ? [] : nil))
        }
        for replica in replicas {
            #expect(await eventually { ServeProcessTests.get(port: replica.adminPort, path: "/readyz")?.status == 200 })
        }

        var clients: [TestSMTPClient] = []
        for replica in replicas {
            let client = try await TestSMTPClient.connect(port: replica.smtpPort, group: group)
            #expect(try await client.login("fleet@example.com", deployment.password).code == 235)
            clients.append(client)
        }
        var relayed = 0
        var refused: [String] = []
        for index in 0..<100 {
            let replies = try await clients[index % 3].send(to: ["a@example.net"], message: "Subject: \(index)\r\n\r\nx\r\n")
            if replies.last?.code == 250 {
                relayed += 1
            } else if let first = replies.first {
                refused.append("\(first.code) \(first.enhancedStatus ?? "")")
            }
        }
        for client in clients { await client.quit() }
        #expect(relayed == 30)
        #expect(sandbox.store.messages.count == 30)
        #expect(refused.count == 70 && refused.allSatisfy { $0 == "451 4.7.1" }, "\(Set(refused))")

        // Each replica says where its counts come from; none is degraded.
        for replica in replicas {
            let metrics = ServeProcessTests.get(port: replica.adminPort, path: "/metrics")?.body ?? ""
            #expect(metrics.contains("xoauth2_proxy_fleet_database_up 1"), "\(metrics)")
            #expect(metrics.contains(#"xoauth2_proxy_fleet_quota_spends_total{source="lease"}"#))
            #expect(ServeProcessTests.get(port: replica.adminPort, path: "/readyz")?.body == #"{"status":"ready"}"#)
        }
        // Nothing in the logs holds the database password.
        for replica in replicas { #expect(!replica.log.contains(server.password)) }

        // SIGTERM: each gives its leases back and exits 0.
        for replica in replicas { replica.signal(SIGTERM) }
        for replica in replicas {
            #expect(await eventually { !replica.process.isRunning })
            #expect(replica.process.terminationStatus == 0)
            #expect(replica.log.contains(#""msg":"fleet leases given back""#))
        }
    }
}
