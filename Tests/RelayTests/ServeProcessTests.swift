import Accounts
import Foundation
import Logging
import NIOCore
import NIOPosix
import Sandbox
import SMTPCore
import TestSupport
import Testing

/// The real binary, as the container runs it (uid 65532, no capabilities, read-only root but for
/// the state directory): accounts from a mounted Secret, admin endpoints on both address
/// families, a message relayed, a rotated refresh token saved, reloads, then SIGTERM with one
/// transaction in flight and one idle session.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ServeProcessTests {
    /// An HTTP GET over a socket with send and receive timeouts: status code and body, or nil
    /// if nothing listens. `host` is an IPv4 or IPv6 literal.
    static func get(host: String = "127.0.0.1", port: Int, path: String) -> (status: Int, body: String)? {
        guard let address = try? SocketAddress(ipAddress: host, port: port) else { return nil }
        let fd = socket(address.protocol == .inet6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = address.withSockAddr { connect(fd, $0, socklen_t($1)) }
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

    /// The real binary started as deployed, its output in a file, and the ports it reports.
    final class ServeProcess {
        let process: Process
        let output: URL
        let handle: FileHandle
        let binaryPID: pid_t
        let adminPort: Int
        private(set) var smtpPort = 0

        /// Binds the SMTP listener on port 0 and reads the port from the log. `--admin-port 0`
        /// means "no admin server", so its port is picked free here; if something else takes it
        /// before the binary binds it (exit 1 at start-up), it is started again on another.
        static func start(_ arguments: [String], in work: URL, readOnlyRoot writable: [String]?) async throws -> ServeProcess {
            for attempt in 1...5 {
                let adminPort = try await Self.portFreeNow()
                let output = work.appendingPathComponent("out-\(attempt).log")
                _ = FileManager.default.createFile(atPath: output.path, contents: nil)
                let handle = try FileHandle(forWritingTo: output)
                let process = try AsDeployed.process(Binary.path, arguments + ["--port", "0", "--admin-port", "\(adminPort)"],
                                                     readOnlyRoot: writable)
                process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("XOAUTH2_PROXY_") }
                process.standardOutput = handle
                process.standardError = handle
                try process.run()
                let started = await eventually {
                    !process.isRunning || (try? String(contentsOf: output, encoding: .utf8))?.contains("SMTP listener ready") == true
                }
                if started, process.isRunning, let pid = AsDeployed.deployedPID(of: process, binary: Binary.path) {
                    let serving = ServeProcess(process: process, output: output, handle: handle, binaryPID: pid, adminPort: adminPort)
                    serving.smtpPort = serving.reportedPort(after: "SMTP listener ready") ?? 0
                    return serving
                }
                if process.isRunning { process.terminate() }
                while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
                let log = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                guard process.terminationStatus == 1, log.contains("cannot listen") else {
                    Issue.record("the binary did not start (status \(process.terminationStatus)): \(log)")
                    throw CancellationError()
                }
            }
            throw CancellationError()
        }

        /// A port free at this moment (bound to 0 and closed). Something else may take it before
        /// the binary binds it; `start` then sees "cannot listen" and tries another.
        static func portFreeNow() async throws -> Int {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: 0).get()
            let port = channel.localAddress?.port ?? 0
            try await channel.close()
            return port
        }

        private init(process: Process, output: URL, handle: FileHandle, binaryPID: pid_t, adminPort: Int) {
            self.process = process
            self.output = output
            self.handle = handle
            self.binaryPID = binaryPID
            self.adminPort = adminPort
        }

        var log: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

        /// The port in the `"address"` of the first log line with `message`.
        func reportedPort(after message: String) -> Int? {
            guard let line = log.split(separator: "\n").first(where: { $0.contains(message) }),
                  let address = line.range(of: #""address":""#) else { return nil }
            let value = line[address.upperBound...].prefix { $0 != "\"" }
            return value.split(separator: ":").last.flatMap { Int($0) }
        }

        func signal(_ number: Int32) { kill(binaryPID, number) }

        func stop() {
            if process.isRunning { kill(binaryPID, SIGKILL) }
            try? handle.close()
        }
    }

    @Test func servesFromAMountedSecretAsDeployedAndDrainsOnSIGTERM() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let group = MultiThreadedEventLoopGroup.singleton
        let sandbox = try await SandboxProvider.start(SandboxProvider.Configuration(), group: group, logger: logger)
        let sandboxTask = Task { try await sandbox.run() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString)")
        let state = work.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("secret"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        try AsDeployed.handOver(state.path)
        defer { try? FileManager.default.removeItem(at: work) }
        let caFile = try sandbox.writeCertificate(toDirectory: work.path)
        let secrets = (clientSecret: "cs-\(UUID().uuidString)", refreshToken: "rt-\(UUID().uuidString)", password: "pw-\(UUID().uuidString)")
        sandbox.issuer.register(email: "ops@example.com", clientID: "client-ops", clientSecret: secrets.clientSecret,
                                refreshToken: secrets.refreshToken)
        // The provider hands out a new refresh token with each access token, as Microsoft's may.
        sandbox.issuer.rotateRefreshTokens = true
        func account(_ id: String, password: String) -> String {
            """
            {"account_id": "\(id)", "email": "\(id)@example.com", "provider": "custom", "client_id": "client-\(id)",
             "client_secret": "\(secrets.clientSecret)", "refresh_token": "\(secrets.refreshToken)", "password": "\(password)",
             "token_url": "\(sandbox.tokenURL)", "smtp_host": "127.0.0.1", "smtp_port": \(sandbox.smtpPort), "tls_ca_file": "\(caFile)"}
            """
        }
        var mount = SecretMount(root: work.appendingPathComponent("secret"))
        try mount.update(["ops.json": account("ops", password: secrets.password)])

        // As the container runs it: unprivileged, and where this machine can, on a read-only root
        // with only the state directory writable.
        let readOnlyRoot = AsDeployed.canMakeReadOnlyRoot
        if AsDeployed.isRoot && !readOnlyRoot {
            print("ServeProcessTests: bubblewrap cannot make a mount namespace here; running as uid 65532 on a writable root")
        }
        let serve = try await ServeProcess.start(
            ["serve", "--accounts-dir", mount.path, "--host", "127.0.0.1", "--admin-host", "::", "--state-dir", state.path,
             "--log-level", "debug", "--shutdown-grace", "10", "--metrics-per-account"],
            in: work, readOnlyRoot: readOnlyRoot ? [state.path] : nil)
        defer { serve.stop() }
        let adminPort = serve.adminPort
        let smtpPort = serve.smtpPort
        #expect(smtpPort != 0, "no port in the log: \(serve.log)")

        #expect(await eventually { Self.get(port: adminPort, path: "/readyz")?.status == 200 })
        // The admin server listens on "::": IPv4 and IPv6 probes both reach it.
        #expect(Self.get(host: "::1", port: adminPort, path: "/readyz")?.status == 200)
        let health = Self.get(port: adminPort, path: "/health")?.body ?? ""
        #expect(health.hasPrefix(#"{"status":"healthy","version":""#), "\(health)")

        let client = try await TestSMTPClient.connect(port: smtpPort, group: group)
        #expect(try await client.login("ops@example.com", secrets.password).code == 235)
        #expect(try await client.send(to: ["a@example.net"], message: "Subject: one\r\n\r\nx\r\n").last?.code == 250)
        let metrics = Self.get(port: adminPort, path: "/metrics")?.body ?? ""
        #expect(metrics.contains(#"xoauth2_proxy_messages_total{result="relayed"} 1"#))
        #expect(metrics.contains(#"xoauth2_proxy_account_messages_total{account="ops",result="relayed"} 1"#))
        #expect(metrics.contains(#"xoauth2_proxy_token_refreshes_total{provider="custom",result="ok"} 1"#))
        #expect(metrics.contains(#"xoauth2_proxy_build_info{"#))

        // The rotated refresh token is written to the state directory, by the deployed user.
        let stateFiles = { (try? FileManager.default.contentsOfDirectory(atPath: state.path))?.filter { !$0.hasPrefix(".") } ?? [] }
        #expect(await eventually { !stateFiles().isEmpty }, "no rotated refresh token in the state directory")
        if AsDeployed.isRoot, let saved = stateFiles().first {
            let owner = try FileManager.default.attributesOfItem(atPath: state.appendingPathComponent(saved).path)[.ownerAccountID] as? Int
            #expect(owner == Int(AsDeployed.uid))
        }

        // A Secret update (the kubelet's ..data swap) adds an account; inotify reloads it.
        try mount.update(["ops.json": account("ops", password: secrets.password), "sales.json": account("sales", password: "pw-sales")])
        #expect(await eventually { Self.get(port: adminPort, path: "/accounts")?.body.contains(#""account_id":"sales""#) == true })
        // SIGHUP reloads even when nothing changed; the log says so.
        let reloadsBefore = serve.log.components(separatedBy: #""msg":"configuration reloaded""#).count
        serve.signal(SIGHUP)
        #expect(await eventually { serve.log.components(separatedBy: #""msg":"configuration reloaded""#).count > reloadsBefore })
        let accounts = Self.get(port: adminPort, path: "/accounts")?.body ?? ""
        #expect(accounts.contains(#""account_id":"ops""#) && accounts.contains(#""state":"ok""#))

        // One transaction in flight and one idle session when SIGTERM arrives.
        _ = try await ShutdownDrainTests.startTransaction(client, id: 7)
        let idle = try await TestSMTPClient.connect(port: smtpPort, group: group)
        #expect(try await idle.login("ops@example.com", secrets.password).code == 235)
        serve.signal(SIGTERM)
        #expect(await eventually { Self.get(port: adminPort, path: "/readyz")?.status == 503 })
        #expect(await eventually { !idle.connection.isActive })
        try await client.connection.sendBody(ByteBuffer(string: "second half\r\n"))
        #expect(try await client.command(".").code == 250)
        #expect(await eventually { !serve.process.isRunning })
        #expect(serve.process.terminationStatus == 0)

        let log = serve.log
        for secret in [secrets.clientSecret, secrets.refreshToken, secrets.password, "pw-sales", "sbx_at_", "sbx_rt_"] {
            #expect(!log.contains(secret), "a secret reached the log")
        }
        #expect(!log.contains("Permission denied") && !log.contains("Read-only file system"), "\(log)")
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
