import NIOCore
import Ops
import Relay
import SMTPCore
import TestSupport
import Testing

/// What the relay reports through the metrics it was given, end to end: no process-wide
/// registry is involved, so each test sees only its own proxy's events.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct RelayMetricsEventsTests {
    @Test func aRelayedMessageReportsItsResultSizeAndDurationInsideItsSession() async throws {
        let metrics = RecordingRelayMetrics()
        try await withRelayHarness(configure: { $0.metrics = metrics }) { harness in
            let message = "Subject: metrics\r\n\r\nhello\r\n"
            let client = try await harness.client()
            #expect(try await client.send(to: ["a@example.net"], message: message).last?.code == 250)
            await client.quit()
            #expect(await eventually { metrics.events.last == .sessionClosed })

            let events = metrics.events
            #expect(events.first == .sessionOpened)
            #expect(events.filter { $0 == .sessionOpened || $0 == .sessionClosed } == [.sessionOpened, .sessionClosed])
            #expect(events.contains(.tokenRefreshed(provider: "custom", .ok)))
            let ended = events.compactMap { event -> (ProxyMetrics.MessageResult, String?, Duration, Int)? in
                guard case .messageEnded(let result, let account, let duration, let bytes) = event else { return nil }
                return (result, account, duration, bytes)
            }
            try #require(ended.count == 1)
            #expect(ended[0].0 == .relayed)
            #expect(ended[0].1 == "acct0")
            #expect(ended[0].2 > .zero)
            #expect(ended[0].3 == message.utf8.count)
            #expect(harness.sandbox.store.messages.first?.data.count == message.utf8.count)
        }
    }

    @Test func failedAndRefusedLoginsAreReportedAndNothingIsRelayed() async throws {
        let metrics = RecordingRelayMetrics()
        try await withRelayHarness(configure: { settings in
            settings.metrics = metrics
            settings.server.loginFailures.maxFailures = 1
            settings.server.loginFailures.firstDelay = .zero
        }) { harness in
            let account = harness.accounts[0]
            let client = try await harness.client(login: false)
            #expect(try await client.login(account.email, "wrong").code == 535)
            // Over the budget: even the right password is refused unchecked.
            #expect(try await client.login(account.email, account.password).code == 454)
            await client.quit()
            #expect(await eventually { metrics.events.last == .sessionClosed })
            #expect(metrics.events == [.sessionOpened, .loginFailed(.failed), .loginFailed(.refused), .sessionClosed])
        }
    }
}
