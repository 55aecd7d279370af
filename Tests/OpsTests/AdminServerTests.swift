import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOPosix
import Prometheus
import ServiceLifecycle
import TestSupport
import Testing
@testable import Ops

let quietLogger = Logger(label: "admin-test", factory: { _ in SwiftLogNoOpLogHandler() })

final class FakeStatus: AdminStatusSource {
    private let state = NIOLockedValueBox(Readiness(ready: true, reasons: []))

    func set(_ readiness: Readiness) { state.withLockedValue { $0 = readiness } }
    func readiness() -> Readiness { state.withLockedValue { $0 } }
    func accountsJSON() -> [UInt8] { Array(#"[{"id":"sales","state":"ok"}]"#.utf8) }
}

/// Starts an `AdminHarness`, runs `body` with it, and always stops it, also when `body` throws.
func withAdminHarness<T>(limits: AdminServer.Limits = AdminServer.Limits(),
                         _ body: (AdminHarness) async throws -> T) async throws -> T {
    try await withTeardown(setUp: { try await AdminHarness.start(limits: limits) },
                           tearDown: { try? await $0.stop() },
                           body)
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
        // Unless the test chose a deadline: a connection left open ends soon after the test.
        // Not sooner: a full run under two busy loops and a compiler starved a request of its
        // event loop for longer than 10 s.
        if limits.connectionTimeout == AdminServer.Limits().connectionTimeout { limits.connectionTimeout = .seconds(30) }
        // Nor the 2 s header deadline: on a loaded machine a test's request can wait longer than
        // that for the event loop (it failed a stressed run); the tests of that deadline set it.
        if limits.headerTimeout == AdminServer.Limits().headerTimeout { limits.headerTimeout = limits.connectionTimeout }
        let server = try await AdminServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                                                status: status, metrics: MetricsSetup.bootstrap(),
                                                logger: quietLogger, limits: limits)
        return AdminHarness(server: server, status: status, running: Task { try await server.run() })
    }

    func stop() async throws {
        await server.close()
        try await withDeadline { [running] in try await running.value }
    }
}

@Suite struct AdminServerTests {
    @Test func probesAndAccounts() async throws {
        try await withAdminHarness { admin in
            #expect(admin.port > 0)

            let healthz = try await RawHTTPClient.get("/healthz", port: admin.port)
            #expect(healthz.status == 200)
            #expect(healthz.body == "ok")
            #expect(healthz.headers["connection"] == "close")

            let health = try await RawHTTPClient.get("/health", port: admin.port)
            #expect(health.status == 200)
            #expect(health.headers["content-type"] == "application/json")
            #expect(health.body == #"{"status":"healthy","version":""# + BuildInfo.version + #"","commit":""# + BuildInfo.commit + #""}"#)

            let ready = try await RawHTTPClient.get("/readyz?verbose=1", port: admin.port)
            #expect(ready.status == 200)
            #expect(ready.body == #"{"status":"ready"}"#)

            let accounts = try await RawHTTPClient.get("/accounts", port: admin.port)
            #expect(accounts.status == 200)
            #expect(accounts.headers["content-type"] == "application/json")
            #expect(accounts.body == #"[{"id":"sales","state":"ok"}]"#)
        }
    }

    @Test func notReadyListsEscapedReasons() async throws {
        try await withAdminHarness { admin in
            admin.status.set(Readiness(ready: false, reasons: ["no account has \"usable\" credentials", "config\ninvalid"]))
            let reply = try await RawHTTPClient.get("/readyz", port: admin.port)
            #expect(reply.status == 503)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])
            #expect(object["status"] as? String == "not ready")
            #expect(object["reasons"] as? [String] == ["no account has \"usable\" credentials", "config\ninvalid"])
        }
    }

    @Test func unknownPathsAndMethodsAreRefused() async throws {
        try await withAdminHarness { admin in
            let missing = try await RawHTTPClient.get("/admin/secrets", port: admin.port)
            #expect(missing.status == 404)

            let post = try await RawHTTPClient.get("/healthz", method: "POST", port: admin.port, body: "hello")
            #expect(post.status == 405)
            #expect(post.headers["allow"] == "GET, HEAD")
        }
    }

    @Test func headSendsHeadersOnly() async throws {
        try await withAdminHarness { admin in
            let reply = try await RawHTTPClient.get("/health", method: "HEAD", port: admin.port)
            #expect(reply.status == 200)
            #expect(reply.headers["content-length"] == String(AdminRouter.healthBody.utf8.count))
            #expect(reply.body.isEmpty)
        }
    }

    @Test func metricsExposeSwiftMetricsCounters() async throws {
        try await withAdminHarness { admin in
            Counter(label: "xoauth2_proxy_messages_total", dimensions: [("result", "relayed")]).increment()
            let reply = try await RawHTTPClient.get("/metrics", port: admin.port)
            #expect(reply.status == 200)
            #expect(reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(reply.body.contains("# TYPE xoauth2_proxy_messages_total counter\n"))
            let relayed = reply.body.split(separator: "\n").first { $0.hasPrefix(#"xoauth2_proxy_messages_total{result="relayed"} "#) }
            let count = try #require(relayed.flatMap { Int($0.split(separator: " ")[1]) })
            #expect(count >= 1)
            #expect(ExpositionFormat.invalidLines(reply.body).isEmpty)
        }
    }

    @Test func oversizedBodyIsAnswered413() async throws {
        var limits = AdminServer.Limits()
        limits.maxBodyBytes = 1024
        try await withAdminHarness(limits: limits) { admin in
            let reply = try RawHTTPClient.parse(try await RawHTTPClient.exchange(port: admin.port, send: request(bodyBytes: 256 * 1024)))
            #expect(reply.status == 413)
            #expect(try await RawHTTPClient.get("/healthz", port: admin.port).status == 200)
        }
    }

    @Test func endlessBodyIsCutOff() async throws {
        var limits = AdminServer.Limits()
        limits.maxBodyBytes = 1024
        try await withAdminHarness(limits: limits) { admin async throws in
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
        }
    }

    private func request(bodyBytes: Int) -> [UInt8] {
        Array("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: \(bodyBytes)\r\n\r\n".utf8)
            + [UInt8](repeating: UInt8(ascii: "x"), count: bodyBytes)
    }

    @Test func silentConnectionsAreClosedAtTheDeadline() async throws {
        var limits = AdminServer.Limits()
        limits.connectionTimeout = .milliseconds(200)
        try await withAdminHarness(limits: limits) { admin in
            let started = ContinuousClock.now
            let received = try await RawHTTPClient.exchange(port: admin.port, send: [])
            #expect(received.isEmpty)
            #expect(ContinuousClock.now - started >= .milliseconds(150))
        }
    }

    @Test func aConnectionBeyondTheLimitTakesTheSlotOfOneThatSentNothing() async throws {
        var limits = AdminServer.Limits()
        limits.maxConnections = 1
        // No deadline to race: the holder keeps the only slot until a newcomer needs it.
        limits.connectionTimeout = .hours(1)
        limits.headerTimeout = .hours(1)
        try await withAdminHarness(limits: limits) { admin async throws in
            let holder = try await RawHTTPClient.hold(port: admin.port)
            #expect(await eventually { admin.server.activeConnections == 1 })

            // The newcomer is answered; the holder, which never sent a request, is closed for it.
            #expect(try await RawHTTPClient.get("/healthz", port: admin.port).status == 200)
            #expect(await eventually { !holder.isActive })
            #expect(await eventually { admin.server.activeConnections == 0 })
            #expect(try await RawHTTPClient.get("/healthz", port: admin.port).status == 200)
        }
    }

    @Test func closeEndsRunEvenBeforeItStarts() async throws {
        // Closing a stopped server again is harmless.
        let stopped = try await withAdminHarness { admin in admin.server }
        await stopped.close()

        let early = try await AdminServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                                               status: FakeStatus(), metrics: MetricsSetup.bootstrap(), logger: quietLogger)
        await early.close()
        try await withDeadline { try await early.run() }
    }

    @Test func gracefulShutdownEndsRun() async throws {
        // Not the 2 s header deadline: under load the request can wait longer for its event loop.
        var limits = AdminServer.Limits()
        limits.headerTimeout = .seconds(30)
        let server = try await AdminServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                                                status: FakeStatus(), metrics: MetricsSetup.bootstrap(), logger: quietLogger,
                                                limits: limits)
        let group = ServiceGroup(services: [server], logger: quietLogger)
        let running = Task { try await group.run() }
        #expect(try await RawHTTPClient.get("/healthz", port: server.port).status == 200)
        await group.triggerGracefulShutdown()
        try await withDeadline { try await running.value }
    }
}
