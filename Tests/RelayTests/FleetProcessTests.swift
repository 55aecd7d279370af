import FleetState
import Foundation
import Logging
import NIOPosix
import PostgresNIO
import PostgresTestSupport
import Sandbox
import TestSupport
import Testing

/// Fleet mode as deployed: three `serve` processes (uid 65532, no capabilities, read-only root
/// where the machine can make one) against one PostgreSQL server and one sandbox, the state URL
/// read from a mounted file. Real clocks: the 100 messages take seconds, the window a minute.
@Suite(.serialized, .timeLimit(.minutes(3)), .enabled(if: PostgresTestServer.testsEnabled, "PostgreSQL is not installed"))
struct FleetProcessTests {
    /// One account (`fleet@example.com`, max_messages_per_minute 30 by default) in a mounted Secret, a
    /// sandbox, a fresh database and its URL in a file.
    struct Deployment {
        let sandbox: SandboxProvider
        let server: PostgresTestServer
        let url: FleetStateURL
        let work: URL
        let accounts: String
        let urlFile: URL
        let password: String
        let refreshToken: String
        /// 32 random bytes as hex, as `openssl rand -hex 32` writes them.
        var keyFile: URL { work.appendingPathComponent("state-key") }

        /// `serve` with the fleet's options, as the chart passes them (files, not values).
        func serveArguments(sharingTokens: Bool = false) -> [String] {
            ["serve", "--accounts-dir", accounts, "--state-url-file", urlFile.path, "--fleet-size-hint", "3", "--log-level", "info",
             // A loaded CI machine can take longer than the 50 ms default for a lease call, and a
             // replica that gives up sends under its local share, outside the exact count.
             "--state-timeout-ms", "10000"] + (sharingTokens ? ["--state-key-file", keyFile.path] : [])
        }

        func writeURL(password: String, to file: URL) throws {
            try Data("postgres://\(url.user):\(password)@\(url.host):\(url.port)/\(url.database)?sslmode=disable\n".utf8).write(to: file)
        }
    }

    static func withDeployment(tokenLifetime: Duration = .seconds(3600), perMinute: Int = 30, perDay: Int = 0,
                               _ body: (Deployment) async throws -> Void) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = try await PostgresTestServer.shared()
        let url = try await server.makeStateURL()
        var sandboxSettings = SandboxProvider.Configuration()
        sandboxSettings.tokenLifetime = tokenLifetime
        let sandbox = try await SandboxProvider.start(sandboxSettings, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
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
                 "max_messages_per_minute": \(perMinute), "max_messages_per_day": \(perDay)}
                """])
            // The URL holds the password: a file, as the chart mounts it, never an argument.
            let deployment = Deployment(sandbox: sandbox, server: server, url: url, work: work, accounts: mount.path,
                                        urlFile: work.appendingPathComponent("state-url"), password: secret.password,
                                        refreshToken: secret.refreshToken)
            try deployment.writeURL(password: server.password, to: deployment.urlFile)
            let key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            try Data(key.utf8).write(to: deployment.keyFile)
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

    /// `count` replicas started as deployed and ready; stopped (SIGKILL) by the caller's defer
    /// through `stopAll`, or one by one by the test.
    static func startReplicas(_ count: Int, _ deployment: Deployment, sharingTokens: Bool = false) async throws -> [ServeProcessTests.ServeProcess] {
        var replicas: [ServeProcessTests.ServeProcess] = []
        do {
            for _ in 0..<count {
                replicas.append(try await ServeProcessTests.ServeProcess.start(deployment.serveArguments(sharingTokens: sharingTokens),
                                                                               in: deployment.work,
                                                                               readOnlyRoot: AsDeployed.canMakeReadOnlyRoot ? [] : nil))
            }
        } catch {
            for replica in replicas { replica.stop() }
            throw error
        }
        for replica in replicas {
            #expect(await eventually { ServeProcessTests.get(port: replica.adminPort, path: "/readyz")?.status == 200 })
        }
        return replicas
    }

    /// A client logged in to each replica.
    static func clients(_ replicas: [ServeProcessTests.ServeProcess], _ deployment: Deployment) async throws -> [TestSMTPClient] {
        var clients: [TestSMTPClient] = []
        for replica in replicas {
            let client = try await TestSMTPClient.connect(port: replica.smtpPort, group: MultiThreadedEventLoopGroup.singleton)
            #expect(try await client.login("fleet@example.com", deployment.password).code == 235)
            clients.append(client)
        }
        return clients
    }

    static func threeProcesses(_ deployment: Deployment) async throws {
        let (sandbox, server) = (deployment.sandbox, deployment.server)
        let replicas = try await startReplicas(3, deployment)
        defer { for replica in replicas { replica.stop() } }
        let clients = try await Self.clients(replicas, deployment)
        let (relayed, refused) = try await sendRoundRobin(100, over: clients)
        #expect(relayed == 30)
        #expect(sandbox.store.messages.count == 30)
        #expect(refused.count == 70 && refused.allSatisfy(\.isAccountLimit), "\(refused)")

        // Each replica says where its counts come from; none is degraded.
        for replica in replicas {
            let metrics = ServeProcessTests.get(port: replica.adminPort, path: "/metrics")?.body ?? ""
            #expect(metrics.contains("xoauth2_proxy_fleet_database_up 1"), "\(metrics)")
            #expect(metrics.contains(#"xoauth2_proxy_fleet_quota_spends_total{source="lease"}"#))
            #expect(metrics.contains(#"xoauth2_proxy_fleet_pushbacks_total{event="applied"}"#))
            #expect(ServeProcessTests.get(port: replica.adminPort, path: "/readyz")?.body == #"{"status":"ready"}"#)
        }
        // Nothing in the logs holds the database password.
        for replica in replicas { #expect(!replica.log.contains(server.password)) }

        // SIGTERM: each gives its leases back and exits 0; the database holds no lease after.
        for replica in replicas { replica.signal(SIGTERM) }
        for replica in replicas {
            #expect(await eventually { !replica.process.isRunning })
            #expect(replica.process.terminationStatus == 0)
        }
        let held = try await server.withAdminConnection(database: deployment.url.database) { connection, logger in
            var count = -1
            for try await value in try await connection.query("SELECT count(*)::int FROM fleet_quota_leases", logger: logger).decode(Int.self) {
                count = value
            }
            return count
        }
        #expect(held == 0)
    }

    @Test("three replicas sharing tokens that live 2 s: about one token request per second for the fleet, not three")
    func threeProcessesRefreshOnceForTheFleet() async throws {
        try await Self.withDeployment(tokenLifetime: .seconds(2), perMinute: 0) { deployment in
            let replicas = try await Self.startReplicas(3, deployment, sharingTokens: true)
            defer { for replica in replicas { replica.stop() } }
            let clients = try await Self.clients(replicas, deployment)
            let before = deployment.sandbox.issuer.issuedTokenCount()
            let clock = ContinuousClock()
            let started = clock.now
            // 300 messages spread over about 6 s (load shaping, not synchronisation): a token
            // lives 2 s and is refreshed at half its life, so the fleet needs about 6.
            for index in 0..<300 {
                let replies = try await clients[index % 3].send(to: ["a@example.net"], message: "Subject: \(index)\r\n\r\nx\r\n")
                #expect(replies.last?.code == 250, "\(replies)")
                let due = started + .milliseconds(20 * (index + 1))
                if clock.now < due { try await Task.sleep(until: due, clock: clock) }
            }
            let seconds = Double((clock.now - started).components.seconds) + 1
            let requests = deployment.sandbox.issuer.issuedTokenCount() - before
            // One per second of the run for the fleet, plus one at each end; each replica on its
            // own would have made about that many, three times over.
            #expect(requests <= Int(seconds) + 2, "\(requests) token requests in \(seconds) s")
            #expect(requests >= 1)
            for client in clients { await client.quit() }
            let refreshes = replicas.map { replica in
                (ServeProcessTests.get(port: replica.adminPort, path: "/metrics")?.body ?? "")
                    .split(separator: "\n").first { $0.hasPrefix(#"xoauth2_proxy_token_refreshes_total{provider="custom",result="ok"}"#) }
                    .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
            }
            // The token requests were shared out: not one replica made all of them and its own.
            #expect(Int(refreshes.reduce(0, +)) == requests, "\(refreshes)")
        }
    }

    @Test("a rotated refresh token written by replica A is used by replica B after A is killed")
    func aRotatedRefreshTokenOutlivesItsReplica() async throws {
        try await Self.withDeployment(tokenLifetime: .seconds(2), perMinute: 0) { deployment in
            // The provider hands out a new refresh token with each access token and, as
            // Microsoft may, the mounted one stops working once it was used.
            deployment.sandbox.issuer.rotateRefreshTokens = true
            let first = try await Self.startReplicas(1, deployment, sharingTokens: true)
            defer { for replica in first { replica.stop() } }
            let a = try await Self.clients(first, deployment)[0]
            #expect(try await a.send(to: ["a@example.net"], message: "Subject: a\r\n\r\nx\r\n").last?.code == 250)
            deployment.sandbox.issuer.revoke(refreshToken: deployment.refreshToken)
            first[0].signal(SIGKILL)
            #expect(await eventually { !first[0].process.isRunning })

            // B has the same mounted (now revoked) token and no state directory; A's access
            // token has expired by the time B needs one, so B must refresh with A's rotated one.
            let expired = ContinuousClock.now + .seconds(2)
            #expect(await eventually { ContinuousClock.now > expired })
            let before = deployment.sandbox.issuer.issuedTokenCount()
            let second = try await Self.startReplicas(1, deployment, sharingTokens: true)
            defer { for replica in second { replica.stop() } }
            let b = try await Self.clients(second, deployment)[0]
            #expect(try await b.send(to: ["a@example.net"], message: "Subject: b\r\n\r\nx\r\n").last?.code == 250)
            #expect(deployment.sandbox.issuer.issuedTokenCount() > before)
            #expect(!second[0].log.contains("invalid_grant"))
            await b.quit()
        }
    }

    @Test("max_messages_per_day 30 across a restart of all three: 20 before SIGTERM, then 80 more let exactly 10 through")
    func threeProcessesKeepTheDayAcrossARestart() async throws {
        try await Self.withDeployment(perMinute: 0, perDay: 30) { deployment in
            let first = try await Self.startReplicas(3, deployment)
            defer { for replica in first { replica.stop() } }
            let before = try await sendRoundRobin(20, over: try await Self.clients(first, deployment))
            #expect(before.relayed == 20)
            // Every replica stops (leases given back) before any starts again.
            for replica in first { replica.signal(SIGTERM) }
            for replica in first { #expect(await eventually { !replica.process.isRunning }) }

            let second = try await Self.startReplicas(3, deployment)
            defer { for replica in second { replica.stop() } }
            let after = try await sendRoundRobin(80, over: try await Self.clients(second, deployment))
            #expect(after.relayed == 10)
            #expect(after.refused.count == 70 && after.refused.allSatisfy(\.isAccountLimit), "\(after.refused)")
            #expect(deployment.sandbox.store.messages.count == 30)
        }
    }
}
