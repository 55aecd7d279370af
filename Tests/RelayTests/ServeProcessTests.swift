import Accounts
import Foundation
import Logging
import NIOCore
import NIOPosix
import Sandbox
import SMTPCore
import TestSupport
import Testing

/// The real binary, as an operator runs it: accounts from a mounted Secret, admin endpoints,
/// a message relayed, then SIGTERM with one transaction in flight and one idle session.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ServeProcessTests {
    /// A blocking HTTP GET over a socket: status code and body, or nil if nothing listens.
    static func get(port: Int, path: String) -> (status: Int, body: String)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusText = text.split(separator: " ").dropFirst().first, let status = Int(statusText) else { return nil }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }

    @Test func servesFromAMountedSecretAndDrainsOnSIGTERM() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let group = MultiThreadedEventLoopGroup.singleton
        let sandbox = try await SandboxProvider.start(SandboxProvider.Configuration(), group: group, logger: logger)
        let sandboxTask = Task { try await sandbox.run() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("secret"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let caFile = try sandbox.writeCertificate(toDirectory: work.path)
        let secrets = (clientSecret: "cs-\(UUID().uuidString)", refreshToken: "rt-\(UUID().uuidString)", password: "pw-\(UUID().uuidString)")
        sandbox.issuer.register(email: "ops@example.com", clientID: "client-ops", clientSecret: secrets.clientSecret,
                                refreshToken: secrets.refreshToken)
        var mount = SecretMount(root: work.appendingPathComponent("secret"))
        try mount.update(["ops.json": """
            {"account_id": "ops", "email": "ops@example.com", "provider": "custom", "client_id": "client-ops",
             "client_secret": "\(secrets.clientSecret)", "refresh_token": "\(secrets.refreshToken)", "password": "\(secrets.password)",
             "token_url": "\(sandbox.tokenURL)", "smtp_host": "127.0.0.1", "smtp_port": \(sandbox.smtpPort), "tls_ca_file": "\(caFile)"}
            """])

        let smtpPort = try await RelayFailureMappingTests.closedPort()
        let adminPort = try await RelayFailureMappingTests.closedPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = ["serve", "--accounts-dir", mount.path, "--port", "\(smtpPort)", "--admin-port", "\(adminPort)",
                             "--state-dir", work.appendingPathComponent("state").path, "--log-level", "debug", "--shutdown-grace", "10",
                             "--metrics-per-account"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("XOAUTH2_PROXY_") }
        let output = work.appendingPathComponent("out.log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var ready: (status: Int, body: String)?
        for _ in 0..<200 {
            ready = Self.get(port: adminPort, path: "/readyz")
            if ready?.status == 200 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(ready?.status == 200)
        #expect(Self.get(port: adminPort, path: "/health")?.body == #"{"status":"healthy"}"#)

        let client = try await TestSMTPClient.connect(port: smtpPort, group: group)
        #expect(try await client.login("ops@example.com", secrets.password).code == 235)
        #expect(try await client.send(to: ["a@example.net"], message: "Subject: one\r\n\r\nx\r\n").last?.code == 250)
        let metrics = Self.get(port: adminPort, path: "/metrics")?.body ?? ""
        #expect(metrics.contains(#"xoauth2_proxy_messages_total{result="relayed"} 1"#))
        #expect(metrics.contains(#"xoauth2_proxy_account_messages_total{account="ops",result="relayed"} 1"#))
        #expect(metrics.contains(#"xoauth2_proxy_token_refreshes_total{provider="custom",result="ok"} 1"#))

        // SIGHUP reloads even when nothing changed; the log says so.
        kill(process.processIdentifier, SIGHUP)
        var reloaded = false
        for _ in 0..<250 where !reloaded {
            reloaded = ((try? String(contentsOf: output, encoding: .utf8)) ?? "").contains(#""msg":"configuration reloaded""#)
            if !reloaded { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(reloaded)
        let accounts = Self.get(port: adminPort, path: "/accounts")?.body ?? ""
        #expect(accounts.contains(#""account_id":"ops""#) && accounts.contains(#""state":"ok""#))

        // One transaction in flight and one idle session when SIGTERM arrives.
        _ = try await ShutdownDrainTests.startTransaction(client, id: 7)
        let idle = try await TestSMTPClient.connect(port: smtpPort, group: group)
        #expect(try await idle.login("ops@example.com", secrets.password).code == 235)
        kill(process.processIdentifier, SIGTERM)
        var draining: (status: Int, body: String)?
        for _ in 0..<100 {
            draining = Self.get(port: adminPort, path: "/readyz")
            if draining?.status == 503 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(draining?.status == 503)
        for _ in 0..<250 where idle.connection.isActive { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!idle.connection.isActive)
        try await client.connection.sendBody(ByteBuffer(string: "second half\r\n"))
        #expect(try await client.command(".").code == 250)
        for _ in 0..<250 where process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
        try handle.close()

        let log = try String(contentsOf: output, encoding: .utf8)
        for secret in [secrets.clientSecret, secrets.refreshToken, secrets.password, "sbx_at_", "sbx_rt_"] {
            #expect(!log.contains(secret), "a secret reached the log")
        }
        #expect(sandbox.store.messages.count == 2)
        if ProcessInfo.processInfo.environment["SHOW_DRAIN_LOG"] != nil {
            print(log)
        }
        await sandbox.close()
        _ = await sandboxTask.result
    }

    @Test func checkRefreshesEveryAccountLogsInAndExitsThreeWhenOneFails() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let sandbox = try await SandboxProvider.start(SandboxProvider.Configuration(), group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let sandboxTask = Task { try await sandbox.run() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let caFile = try sandbox.writeCertificate(toDirectory: work.path)
        func account(_ name: String, refreshToken: String) -> String {
            """
            {"account_id": "\(name)", "email": "\(name)@example.com", "provider": "custom", "client_id": "client-\(name)",
             "client_secret": "secret-\(name)-value", "refresh_token": "\(refreshToken)", "token_url": "\(sandbox.tokenURL)",
             "smtp_host": "127.0.0.1", "smtp_port": \(sandbox.smtpPort), "tls_ca_file": "\(caFile)"}
            """
        }
        sandbox.issuer.register(email: "good@example.com", clientID: "client-good", clientSecret: "secret-good-value", refreshToken: "rt-good-value")
        sandbox.issuer.register(email: "bad@example.com", clientID: "client-bad", clientSecret: "secret-bad-value", refreshToken: "rt-bad-value")
        sandbox.issuer.revoke(refreshToken: "rt-bad-value")
        try account("good", refreshToken: "rt-good-value").write(to: work.appendingPathComponent("good.json"), atomically: true, encoding: .utf8)
        try account("bad", refreshToken: "rt-bad-value").write(to: work.appendingPathComponent("bad.json"), atomically: true, encoding: .utf8)

        let run = try await Binary.run(["check", "--accounts-dir", work.path, "--smtp", "--json"])
        let both = (status: run.status, output: run.stdout + run.stderr)
        #expect(both.status == 3)
        #expect(both.output.contains(#""account_id":"bad","email":"bad@example.com","provider":"custom","token":"failed","smtp":"skipped""#))
        #expect(both.output.contains(#""account_id":"good","email":"good@example.com","provider":"custom","token":"ok","smtp":"ok","error":null"#))
        #expect(both.output.contains("invalid_grant"))
        for secret in ["secret-good-value", "secret-bad-value", "rt-good-value", "rt-bad-value", "sbx_at_"] {
            #expect(!both.output.contains(secret))
        }
        try FileManager.default.removeItem(at: work.appendingPathComponent("bad.json"))
        let rerun = try await Binary.run(["check", "--accounts-dir", work.path])
        let good = (status: rerun.status, output: rerun.stdout + rerun.stderr)
        #expect(good.status == 0)
        #expect(good.output.hasPrefix("account_id  email             provider  token  smtp"))
        #expect(good.output.contains("good        good@example.com  custom    ok     skipped"))
        await sandbox.close()
        _ = await sandboxTask.result
    }
}
