import Foundation
import Ops
import TestSupport
import Testing
@testable import XOAuth2ProxyCLI

/// Runs the real binary (the one `swift build` put next to the test bundle) as deployed: as uid
/// 65532 without capabilities when the tests run as root.
enum Binary {
    static var path: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // Inside an .xctest bundle on some layouts the binary sits one level up.
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("xoauth2-proxy").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return "xoauth2-proxy"
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Waits with `Task.sleep`, never blocking a concurrency thread: other suites' tasks (a
    /// watchdog ping, a sandbox session) must keep running while the binary does.
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(20)) async throws -> Result {
        let process = try AsDeployed.process(path, arguments)
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("XOAUTH2_PROXY_") }.merging(environment) { $1 }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("binary-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("out")
        let errURL = directory.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { process.terminate() }
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        try out.close()
        try err.close()
        return Result(status: process.terminationStatus,
                      stdout: try String(contentsOf: outURL, encoding: .utf8),
                      stderr: try String(contentsOf: errURL, encoding: .utf8))
    }
}

@Suite(.serialized) struct CommandLineTests {
    private func writeConfig(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let malformed: [(String, String)] = [
        (#"{"accounts": [{"email": "a@example.com", "provider": "gmail", "client_id": "c", "client_secret": "s", "refresh_token": "r", "smtp_prot": 25}]}"#, "smtp_prot"),
        (#"{"accounts": [{"account_id": "sales", "email": "a@example.com", "provider": "yahoo", "client_id": "c", "client_secret": "s", "refresh_token": "r"}]}"#, "provider"),
        (#"{"accounts": [{"account_id": "sales", "email": "a@example.com", "provider": "gmail", "client_secret": "s", "refresh_token": "r"}]}"#, "client_id"),
        (#"{"accounts": [{"email": "a@example.com", "provider": "custom", "client_id": "c", "client_secret": "s", "refresh_token": "r", "token_url": "http://tokens.example.com/t", "smtp_host": "smtp.example.com"}]}"#, "token_url"),
        (#"{"accounts": [{"email": "a@example.com", "provider": "custom", "client_id": "c", "client_secret": "s", "refresh_token": "r", "token_url": "https://t.example.com/t", "smtp_host": "smtp.example.com", "smtp_tls": "none"}]}"#, "smtp_tls"),
        (#"{"accounts": [{"email": "a@example.com", "provider": "gmail", "client_id": "c", "client_secret": "s", "refresh_token": "r", "smtp_port": 70000}]}"#, "smtp_port"),
        (#"{"accounts": [{"email": "a@example.com", "provider": "gmail", "client_id": "c", "client_secret": "s", "refresh_token": "r"}, {"email": "A@example.com", "provider": "gmail", "client_id": "c", "client_secret": "s", "refresh_token": "r2"}]}"#, "email"),
        (#"{"accounts": [ {"email": "#, "line 1"),
    ]

    @Test(arguments: malformed)
    func malformedConfigExitsTwoNamingTheField(config: String, field: String) async throws {
        let path = try writeConfig(config)
        let result = try await Binary.run(["--config", path, "--port", "0"])
        #expect(result.status == 2)
        #expect(result.stderr.contains(path))
        #expect(result.stderr.contains(field))
        #expect(!result.stderr.contains("Fatal error"))
        #expect(!result.stderr.contains("\"s\""))
    }

    @Test func missingFileBadPortAndNoConfigExitTwo() async throws {
        #expect(try await Binary.run(["--config", "/nonexistent/accounts.json"]).status == 2)
        #expect(try await Binary.run(["serve"]).status == 2)
        let path = try writeConfig(#"[{"email": "a@example.com", "provider": "gmail", "client_id": "c", "client_secret": "s", "refresh_token": "r"}]"#)
        let badPort = try await Binary.run(["--config", path, "--port", "99999"])
        #expect(badPort.status == 2)
        #expect(badPort.stderr.contains("--port"))
        #expect(try await Binary.run(["--config", path, "--port", "abc"]).status == 2)
    }

    @Test func environmentSuppliesFlagsAndTheCommandLineWins() async throws {
        let bad = try await Binary.run([], environment: ["XOAUTH2_PROXY_CONFIG": "/nonexistent/from-env.json"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("/nonexistent/from-env.json"))
        let overridden = try await Binary.run(["--config", "/nonexistent/from-flag.json"], environment: ["XOAUTH2_PROXY_CONFIG": "/nonexistent/from-env.json"])
        #expect(overridden.stderr.contains("from-flag.json"))
        #expect(!overridden.stderr.contains("from-env.json"))
    }

    @Test func portInUseExitsOne() async throws {
        let path = try writeConfig(#"[{"email": "a@example.com", "provider": "gmail", "client_id": "c", "client_secret": "s", "refresh_token": "r", "password": "p"}]"#)
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socketFD) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, length) } }
        _ = listen(socketFD, 1)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let result = try await Binary.run(["--config", path, "--port", "\(port)"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot listen"))
    }

    @Test func versionComesFromBuildInfo() async throws {
        let result = try await Binary.run(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout == BuildInfo.versionLine + "\n")
        #expect(BuildInfo.version.split(separator: ".").count == 3)
    }

    @Test func environmentFlagMappingIsDerivedFromTheCommands() {
        let options = EnvironmentFlags.options(of: ServeCommand.self)
        #expect(options.contains(.init(name: "config", isFlag: false)))
        #expect(options.contains(.init(name: "max-message-size", isFlag: false)))
        #expect(options.contains(.init(name: "dry-run", isFlag: true)))
        #expect(options.contains(.init(name: "log-level", isFlag: false)))
        // Every option of every group, so each has its XOAUTH2_PROXY_ variable.
        for name in ["accounts-dir", "connect-timeout", "token-timeout", "quota-pause", "breaker-failures", "admin-port", "state-dir"] {
            #expect(options.contains(.init(name: name, isFlag: false)), "\(name)")
        }
        // Named as ArgumentParser names them, acronyms included: each is an option it parses.
        let help = ServeCommand.helpMessage(for: ServeCommand.self, includeHidden: true, columns: 10_000)
            + CheckCommand.helpMessage(for: CheckCommand.self, includeHidden: true, columns: 10_000)
        for option in options + EnvironmentFlags.options(of: CheckCommand.self) {
            #expect(help.contains("--\(option.name) ") || help.contains("--\(option.name)\n") || help.contains("--\(option.name) <"), "\(option.name)")
        }
        #expect(EnvironmentFlags.kebabCase("stateURLFile") == "state-url-file")
        #expect(EnvironmentFlags.kebabCase("fleetSizeHint") == "fleet-size-hint")
        #expect(EnvironmentFlags.apply(to: ["serve"], environment: ["XOAUTH2_PROXY_STATE_URL_FILE": "/run/url"]) == ["serve", "--state-url-file=/run/url"])
        let applied = EnvironmentFlags.apply(to: ["--port", "1"], environment: ["XOAUTH2_PROXY_PORT": "2", "XOAUTH2_PROXY_DRY_RUN": "true", "XOAUTH2_PROXY_HOST": "::1"])
        #expect(applied == ["--port", "1", "--host=::1", "--dry-run"])
        // authorize runs by hand, in a sidecar whose environment sets serve's options.
        let authorize = ["authorize", "--provider", "outlook", "--client-id", "c", "--email", "a@b.example"]
        #expect(EnvironmentFlags.apply(to: authorize, environment: ["XOAUTH2_PROXY_CONFIG": "/x.json", "XOAUTH2_PROXY_PORT": "2"]) == authorize)
    }

    @Test func timeoutAndLimitFlagsReachTheRuntimeSettings() throws {
        let path = try writeConfig(#"[{"email": "a@example.com", "provider": "gmail", "client_id": "c", "client_secret": "s", "refresh_token": "r"}]"#)
        let command = try ServeCommand.parse([
            "--config", path, "--max-connections", "7", "--connect-timeout", "3", "--command-timeout", "4", "--data-end-timeout", "9",
            "--token-timeout", "6", "--concurrency-wait", "2", "--pool-wait", "8", "--quota-pause", "600", "--breaker-failures", "3",
            "--breaker-cool-down", "2", "--breaker-max-cool-down", "20",
        ])
        let (directory, settings) = try command.validatedSettings()
        #expect(directory.directory.accounts.first?.limits.messagesPerDay == 2000)
        #expect(settings.server.maxConnections == 7)
        #expect(settings.upstreamTimeouts.connect == .seconds(3))
        #expect(settings.upstreamTimeouts.command == .seconds(4))
        #expect(settings.upstreamTimeouts.dataEnd == .seconds(9))
        #expect(settings.tokenRequestTimeout == .seconds(6))
        #expect(settings.resilience.concurrencyWait == .seconds(2))
        #expect(settings.poolAcquireTimeout == .seconds(8))
        #expect(settings.resilience.quotaPause == .seconds(600))
        #expect(settings.resilience.hostBreaker.failureThreshold == 3)
        #expect(settings.resilience.tokenBreaker.coolDown.maximum == .seconds(20))
        for bad in [["--connect-timeout", "0"], ["--breaker-failures", "0"], ["--max-connections", "0"], ["--breaker-max-cool-down", "1"]] {
            #expect(throws: StartupFailure.self) { try ServeCommand.parse(["--config", path] + bad).validatedSettings() }
        }
    }

    @Test func accountsComeFromADirectoryAndFromEnvironmentVariables() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("accounts-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try #"{"email": "dir@example.com", "provider": "gmail", "client_id": "c", "client_secret": "s", "refresh_token": "r"}"#
            .write(toFile: directory + "/sales.json", atomically: true, encoding: .utf8)
        let (accounts, _) = try ServeCommand.parse(["--accounts-dir", directory]).validatedSettings()
        #expect(accounts.directory.accounts.map(\.email) == ["dir@example.com"])

        let missing = try await Binary.run(["--port", "0"], environment: [
            "XOAUTH2_PROXY_ACCOUNT_EMAIL": "env@example.com", "XOAUTH2_PROXY_ACCOUNT_PROVIDER": "gmail",
            "XOAUTH2_PROXY_ACCOUNT_CLIENT_SECRET": "env-secret-value", "XOAUTH2_PROXY_ACCOUNT_REFRESH_TOKEN": "env-refresh-value",
        ])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("XOAUTH2_PROXY_ACCOUNT_CLIENT_ID"))
        #expect(!missing.stderr.contains("env-secret-value") && !missing.stderr.contains("env-refresh-value"))
    }
}
