import Foundation
import Logging
import NIOPosix
import Sandbox
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// TLS for apps through the real binary, started as deployed (uid 65532, no capabilities, on a
/// read-only root where bubblewrap can make one) and listening on the wildcard address as the
/// standalone relay does, with third-party clients trusting a sandbox-made CA: swaks `--tls`
/// and `--tlsc`, Python's `smtplib.starttls()` and `SMTP_SSL`; a plaintext AUTH refused with
/// 538; a certificate swapped in its mounted Secret picked up without a restart.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ServerTLSProcessTests {
    static let email = "ops@example.com"

    /// The binary serving `0.0.0.0` with `--tls-cert`, `--tls-key` and `--tls-port 0`, a sandbox
    /// provider behind it, and the certificate files as a mounted Secret.
    struct Serving {
        let serve: ServeProcessTests.ServeProcess
        let certificates: ServerTLSTests.CertificateFiles
        let sandbox: SandboxProvider
        let password: String
        let port: Int
        let tlsPort: Int
        var caFile: String { certificates.work.appendingPathComponent("tls/ca.crt").path }
    }

    static func withServingBinary(_ body: (Serving) async throws -> Void) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var settings = SandboxProvider.Configuration()
        settings.requireTLS = false
        let sandbox = try await SandboxProvider.start(settings, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let sandboxTask = Task { try await sandbox.run() }
        defer { sandboxTask.cancel() }
        let certificates = try ServerTLSTests.CertificateFiles()
        let work = certificates.work
        let accounts = work.appendingPathComponent("accounts")
        try FileManager.default.createDirectory(at: accounts, withIntermediateDirectories: true)
        let password = "pw-\(UUID().uuidString)"
        sandbox.issuer.register(email: email, clientID: "client-ops", clientSecret: "cs-ops", refreshToken: "rt-ops")
        try """
            {"account_id": "ops", "email": "\(email)", "provider": "custom", "client_id": "client-ops", "client_secret": "cs-ops",
             "refresh_token": "rt-ops", "password": "\(password)", "token_url": "\(sandbox.tokenURL)", "smtp_host": "127.0.0.1",
             "smtp_port": \(sandbox.smtpPort), "smtp_tls": "none"}
            """.write(to: accounts.appendingPathComponent("ops.json"), atomically: true, encoding: .utf8)
        let files = certificates.files
        let serve = try await ServeProcessTests.ServeProcess.start(
            ["serve", "--accounts-dir", accounts.path, "--host", "0.0.0.0", "--tls-cert", files.certificatePath,
             "--tls-key", files.keyPath, "--tls-port", "0", "--shutdown-grace", "5"],
            in: work, readOnlyRoot: AsDeployed.canMakeReadOnlyRoot ? [] : nil)
        defer { serve.stop() }
        // Logged right after the STARTTLS listener's line, which start() waited for.
        #expect(await eventually { serve.reportedPort(after: "SMTP TLS listener ready") != nil }, "\(serve.log)")
        let tlsPort = serve.reportedPort(after: "SMTP TLS listener ready") ?? 0
        #expect(serve.smtpPort != 0 && tlsPort != 0, "\(serve.log)")
        let serving = Serving(serve: serve, certificates: certificates, sandbox: sandbox, password: password,
                              port: serve.smtpPort, tlsPort: tlsPort)
        try await body(serving)
        serve.signal(SIGTERM)
        #expect(await eventually { !serve.process.isRunning })
        #expect(serve.process.terminationStatus == 0)
        let log = serve.log
        #expect(log.contains(#""auth":"after STARTTLS only""#), "\(log)")
        #expect(!log.contains(password), "the app's password reached the log")
        #expect(!log.contains("Permission denied"), "\(log)")
        await sandbox.close()
        _ = await sandboxTask.result
    }

    /// Runs a tool to completion without blocking a concurrency thread; its output and status.
    static func run(_ executable: String, _ arguments: [String], input: String? = nil) async throws -> (status: Int32, output: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        process.standardOutput = handle
        process.standardError = handle
        if let input {
            let inputFile = directory.appendingPathComponent("in")
            try input.write(to: inputFile, atomically: true, encoding: .utf8)
            process.standardInput = try FileHandle(forReadingFrom: inputFile)
        }
        try process.run()
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    /// swaks, and the Perl TLS modules its `--tls` needs (Debian: libio-socket-ssl-perl, which
    /// `.ci/run` installs with swaks).
    static let swaksWithTLS: Bool = {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/bin/sh")
        probe.arguments = ["-c", "command -v swaks && perl -MIO::Socket::SSL -MNet::SSLeay -e 1"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }()

    @Test(.enabled(if: swaksWithTLS, "swaks or its TLS modules are missing (apt-get install swaks libio-socket-ssl-perl)"))
    func swaksSendsOverSTARTTLSAndImplicitTLS() async throws {
        try await Self.withServingBinary { serving in
            func swaks(_ port: Int, _ tls: String, subject: String) async throws -> (status: Int32, output: String) {
                try await Self.run("swaks", [
                    "--server", "127.0.0.1:\(port)", tls, "--tls-verify", "--tls-ca-path", serving.caFile, "--tls-sni", "localhost",
                    "--auth", "PLAIN", "--auth-user", Self.email, "--auth-password", serving.password,
                    "--from", Self.email, "--to", "someone@example.net", "--header", "Subject: \(subject)",
                ])
            }
            let starttls = try await swaks(serving.port, "--tls", subject: "swaks starttls")
            #expect(starttls.status == 0, "\(starttls.output)")
            for line in [" -> STARTTLS", "<-  220 2.0.0 Ready to start TLS", "=== TLS started with cipher", "<~  235 2.7.0 Authentication successful",
                         "<~  250 "] {
                #expect(starttls.output.contains(line), "\(line) missing from: \(starttls.output)")
            }
            // Before STARTTLS the listener (not loopback) offered no AUTH.
            let beforeTLS = starttls.output.components(separatedBy: " -> STARTTLS").first ?? ""
            #expect(!beforeTLS.contains("AUTH"), "\(beforeTLS)")

            let implicit = try await swaks(serving.tlsPort, "--tlsc", subject: "swaks implicit")
            #expect(implicit.status == 0, "\(implicit.output)")
            #expect(implicit.output.contains("=== TLS started with cipher") && implicit.output.contains("<~  235 2.7.0"), "\(implicit.output)")
            #expect(!implicit.output.contains("STARTTLS"))

            // Without --tls swaks finds no AUTH to use and gives up before sending the password.
            let plaintext = try await Self.run("swaks", [
                "--server", "127.0.0.1:\(serving.port)", "--auth", "PLAIN", "--auth-user", Self.email,
                "--auth-password", serving.password, "--from", Self.email, "--to", "someone@example.net",
            ])
            #expect(plaintext.status != 0)
            #expect(plaintext.output.contains("Host did not advertise authentication"), "\(plaintext.output)")
            #expect(serving.sandbox.store.messages.map(\.recipients) == [["someone@example.net"], ["someone@example.net"]])
        }
    }

    static let smtplibScript = #"""
        import base64, json, smtplib, ssl, sys
        host, port, tls_port, ca, user, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
        context = ssl.create_default_context(cafile=ca)
        result = {}
        with smtplib.SMTP(host, port, timeout=30) as client:
            client.ehlo("python.test")
            result["auth_before_tls"] = client.has_extn("auth")
            result["starttls_offered"] = client.has_extn("starttls")
            code, text = client.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode())
            result["plaintext_auth"] = f"{code} {text.decode()}"
            client.starttls(context=context)
            client.ehlo("python.test")
            result["auth_after_tls"] = client.has_extn("auth")
            result["serial"] = client.sock.getpeercert()["serialNumber"]
            client.login(user, password)
            result["starttls_refused"] = client.sendmail(user, ["starttls@example.net"], "Subject: smtplib starttls\r\n\r\nx\r\n")
        with smtplib.SMTP_SSL(host, tls_port, context=context, timeout=30) as client:
            client.login(user, password)
            result["smtps_refused"] = client.sendmail(user, ["smtps@example.net"], "Subject: smtplib SMTP_SSL\r\n\r\nx\r\n")
        print(json.dumps(result))
        """#

    @Test func pythonSmtplibStartTLSAndSMTPSSLWhilePlaintextAuthIsRefused() async throws {
        try await Self.withServingBinary { serving in
            let run = try await Self.run("python3", ["-", "127.0.0.1", "\(serving.port)", "\(serving.tlsPort)", serving.caFile,
                                                     Self.email, serving.password], input: Self.smtplibScript)
            #expect(run.status == 0, "\(run.output)")
            let line = run.output.split(separator: "\n").last.map(String.init) ?? ""
            let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(run.output)")
            #expect(result["auth_before_tls"] as? Bool == false)
            #expect(result["starttls_offered"] as? Bool == true)
            #expect((result["plaintext_auth"] as? String)?.hasPrefix("538 5.7.11 ") == true, "\(result)")
            #expect(result["auth_after_tls"] as? Bool == true)
            #expect(result["serial"] as? String == serving.certificates.serial)
            #expect((result["starttls_refused"] as? [String: Any])?.isEmpty == true)
            #expect((result["smtps_refused"] as? [String: Any])?.isEmpty == true)
            #expect(serving.sandbox.store.messages.map(\.recipients) == [["starttls@example.net"], ["smtps@example.net"]])
        }
    }

    static let serialScript = #"""
        import smtplib, ssl, sys
        context = ssl.create_default_context(cafile=sys.argv[3])
        with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as client:
            client.starttls(context=context)
            print(client.sock.getpeercert()["serialNumber"])
        with smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[2]), context=context, timeout=30) as client:
            print(client.sock.getpeercert()["serialNumber"])
        """#

    @Test func aCertificateSwapInTheMountedSecretReachesTheRunningBinary() async throws {
        try await Self.withServingBinary { serving in
            let pid = serving.serve.binaryPID
            func serials() async throws -> [String] {
                let run = try await Self.run("python3", ["-", "\(serving.port)", "\(serving.tlsPort)", serving.caFile], input: Self.serialScript)
                return run.status == 0 ? run.output.split(separator: "\n").map(String.init) : []
            }
            let first = serving.certificates.serial
            #expect(try await serials() == [first, first])

            let second = try serving.certificates.rotate()
            #expect(await eventually(every: .milliseconds(100)) { (try? await serials()) == [second, second] },
                    "the new certificate never reached new connections: \(serving.serve.log)")

            // A broken update is refused, logged naming the file, and the certificate stays.
            try serving.certificates.update(["tls.crt": "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
                                             "tls.key": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n",
                                             "ca.crt": serving.certificates.authority.certificatePEM])
            let path = serving.certificates.files.certificatePath
            #expect(await eventually { serving.serve.log.contains("TLS certificate not reloaded") })
            let refusal = serving.serve.log.split(separator: "\n").first { $0.contains("TLS certificate not reloaded") } ?? ""
            #expect(refusal.contains(path), "\(refusal)")
            #expect(try await serials() == [second, second])
            #expect(!serving.serve.log.contains("c2VjcmV0LWtleS1tYXRlcmlhbA"), "key material in the log")

            // One process all along: no restart.
            #expect(serving.serve.process.isRunning && serving.serve.binaryPID == pid)
            #expect(serving.serve.log.components(separatedBy: "SMTP listener ready").count == 2)
            #expect(serving.serve.log.contains("TLS certificate reloaded; new connections use it"))
        }
    }
}
