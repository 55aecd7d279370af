import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOPosix
import Prometheus
import ServiceLifecycle
import Testing
@testable import Ops

let quietLogger = Logger(label: "admin-test", factory: { _ in SwiftLogNoOpLogHandler() })

final class FakeStatus: AdminStatusSource {
    private let state = NIOLockedValueBox(Readiness(ready: true, reasons: []))

    func set(_ readiness: Readiness) { state.withLockedValue { $0 = readiness } }
    func readiness() -> Readiness { state.withLockedValue { $0 } }
    func accountsJSON() -> [UInt8] { Array(#"[{"id":"sales","state":"ok"}]"#.utf8) }
}

/// A bound, running admin server for one test; `stop()` closes it and waits for `run()` to return.
struct AdminHarness {
    let server: AdminServer
    let status: FakeStatus
    let running: Task<Void, any Error>
    var port: Int { server.port }

    static func start(limits: AdminServer.Limits = AdminServer.Limits()) async throws -> AdminHarness {
        let status = FakeStatus()
        var limits = limits
        limits.connectionTimeout = min(limits.connectionTimeout, .seconds(10))
        let server = try await AdminServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                                                status: status, metrics: MetricsSetup.bootstrap(),
                                                logger: quietLogger, limits: limits)
        return AdminHarness(server: server, status: status, running: Task { try await server.run() })
    }

    func stop() async throws {
        await server.close()
        try await RawHTTPClient.withDeadline(.seconds(10)) { [running] in try await running.value }
    }
}

@Suite struct AdminServerTests {
    @Test func probesAndAccounts() async throws {
        let admin = try await AdminHarness.start()
        #expect(admin.port > 0)

        let healthz = try await RawHTTPClient.get("/healthz", port: admin.port)
        #expect(healthz.status == 200)
        #expect(healthz.body == "ok")
        #expect(healthz.headers["connection"] == "close")

        let health = try await RawHTTPClient.get("/health", port: admin.port)
        #expect(health.status == 200)
        #expect(health.headers["content-type"] == "application/json")
        #expect(health.body == #"{"status":"healthy"}"#)

        let ready = try await RawHTTPClient.get("/readyz?verbose=1", port: admin.port)
        #expect(ready.status == 200)
        #expect(ready.body == #"{"status":"ready"}"#)

        let accounts = try await RawHTTPClient.get("/accounts", port: admin.port)
        #expect(accounts.status == 200)
        #expect(accounts.headers["content-type"] == "application/json")
        #expect(accounts.body == #"[{"id":"sales","state":"ok"}]"#)
        try await admin.stop()
    }

    @Test func notReadyListsEscapedReasons() async throws {
        let admin = try await AdminHarness.start()
        admin.status.set(Readiness(ready: false, reasons: ["no account has \"usable\" credentials", "config\ninvalid"]))
        let reply = try await RawHTTPClient.get("/readyz", port: admin.port)
        #expect(reply.status == 503)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])
        #expect(object["status"] as? String == "not ready")
        #expect(object["reasons"] as? [String] == ["no account has \"usable\" credentials", "config\ninvalid"])
        try await admin.stop()
    }

    @Test func unknownPathsAndMethodsAreRefused() async throws {
        let admin = try await AdminHarness.start()
        let missing = try await RawHTTPClient.get("/admin/secrets", port: admin.port)
        #expect(missing.status == 404)

        let post = try await RawHTTPClient.get("/healthz", method: "POST", port: admin.port, body: "hello")
        #expect(post.status == 405)
        #expect(post.headers["allow"] == "GET, HEAD")
        try await admin.stop()
    }

    @Test func headSendsHeadersOnly() async throws {
        let admin = try await AdminHarness.start()
        let reply = try await RawHTTPClient.get("/health", method: "HEAD", port: admin.port)
        #expect(reply.status == 200)
        #expect(reply.headers["content-length"] == String(#"{"status":"healthy"}"#.utf8.count))
        #expect(reply.body.isEmpty)
        try await admin.stop()
    }

    @Test func metricsExposeSwiftMetricsCounters() async throws {
        let admin = try await AdminHarness.start()
        Counter(label: "xoauth2_proxy_messages_total", dimensions: [("result", "relayed")]).increment()
        let reply = try await RawHTTPClient.get("/metrics", port: admin.port)
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(reply.body.contains("# TYPE xoauth2_proxy_messages_total counter\n"))
        let relayed = reply.body.split(separator: "\n").first { $0.hasPrefix(#"xoauth2_proxy_messages_total{result="relayed"} "#) }
        let count = try #require(relayed.flatMap { Int($0.split(separator: " ")[1]) })
        #expect(count >= 1)
        #expect(ExpositionFormat.invalidLines(reply.body).isEmpty)
        try await admin.stop()
    }

    @Test func oversizedBodyIsAnswered413() async throws {
        var limits = AdminServer.Limits()
        limits.maxBodyBytes = 1024
        let admin = try await AdminHarness.start(limits: limits)
        let reply = try RawHTTPClient.parse(try await RawHTTPClient.exchange(port: admin.port, send: request(bodyBytes: 256 * 1024)))
        #expect(reply.status == 413)
        #expect(try await RawHTTPClient.get("/healthz", port: admin.port).status == 200)
        try await admin.stop()
    }

    @Test func endlessBodyIsCutOff() async throws {
        var limits = AdminServer.Limits()
        limits.maxBodyBytes = 1024
        let admin = try await AdminHarness.start(limits: limits)
        // Past the drain allowance the server closes with bytes unread; the kernel may turn that
        // into a reset before the client reads the 413, so either ending is correct: not a hang.
        do {
            let reply = try RawHTTPClient.parse(try await RawHTTPClient.exchange(port: admin.port, send: request(bodyBytes: 8 << 20)))
            #expect(reply.status == 413)
        } catch let error as RawHTTPClient.Failure {
            Issue.record("no answer or close in time: \(error)")
        } catch {
            // Connection reset by peer.
        }
        #expect(try await RawHTTPClient.get("/healthz", port: admin.port).status == 200)
        try await admin.stop()
    }

    private func request(bodyBytes: Int) -> [UInt8] {
        Array("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: \(bodyBytes)\r\n\r\n".utf8)
            + [UInt8](repeating: UInt8(ascii: "x"), count: bodyBytes)
    }

    @Test func silentConnectionsAreClosedAtTheDeadline() async throws {
        var limits = AdminServer.Limits()
        limits.connectionTimeout = .milliseconds(200)
        let admin = try await AdminHarness.start(limits: limits)
        let started = ContinuousClock.now
        let received = try await RawHTTPClient.exchange(port: admin.port, send: [], timeout: .seconds(5))
        #expect(received.isEmpty)
        #expect(ContinuousClock.now - started >= .milliseconds(150))
        try await admin.stop()
    }

    @Test func connectionsBeyondTheLimitAreClosed() async throws {
        var limits = AdminServer.Limits()
        limits.maxConnections = 1
        limits.connectionTimeout = .milliseconds(500)
        let admin = try await AdminHarness.start(limits: limits)
        // Holds the only slot by sending nothing until the deadline closes it.
        async let holder = RawHTTPClient.exchange(port: admin.port, send: [], timeout: .seconds(5))
        try await waitUntil { admin.server.activeConnections == 1 }

        // Closed unanswered; the unread request may turn the close into a reset, which is refusal too.
        do {
            let answer = try await RawHTTPClient.exchange(port: admin.port, send: Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            #expect(answer.isEmpty)
        } catch let error as RawHTTPClient.Failure {
            Issue.record("refused connection was not closed: \(error)")
        } catch {
            // Connection reset by peer.
        }

        #expect(try await holder.isEmpty)
        try await waitUntil { admin.server.activeConnections == 0 }
        #expect(try await RawHTTPClient.get("/healthz", port: admin.port).status == 200)
        try await admin.stop()
    }

    private func waitUntil(_ condition: @escaping @Sendable () -> Bool) async throws {
        try await RawHTTPClient.withDeadline(.seconds(5)) {
            while !condition() { try await Task.sleep(for: .milliseconds(5)) }
        }
    }

    @Test func closeEndsRunEvenBeforeItStarts() async throws {
        let admin = try await AdminHarness.start()
        try await admin.stop()
        await admin.server.close()

        let early = try await AdminServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                                               status: FakeStatus(), metrics: MetricsSetup.bootstrap(), logger: quietLogger)
        await early.close()
        try await RawHTTPClient.withDeadline(.seconds(5)) { try await early.run() }
    }

    @Test func gracefulShutdownEndsRun() async throws {
        let server = try await AdminServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                                                status: FakeStatus(), metrics: MetricsSetup.bootstrap(), logger: quietLogger)
        let group = ServiceGroup(services: [server], logger: quietLogger)
        let running = Task { try await group.run() }
        #expect(try await RawHTTPClient.get("/healthz", port: server.port).status == 200)
        await group.triggerGracefulShutdown()
        try await RawHTTPClient.withDeadline(.seconds(5)) { try await running.value }
    }
}
