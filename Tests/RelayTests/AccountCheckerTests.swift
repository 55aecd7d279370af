import Accounts
import Logging
import NIOPosix
import Relay
import TestSupport
import Testing

/// `check` builds the upstream half `serve` builds, breakers included.
struct AccountCheckerTests {
    @Test func aFailingTokenEndpointOpensItsBreakerForTheAccountsCheckedAfter() async throws {
        try await withRefusingPort { port in
            let accounts = (0..<3).map { index in
                Account(accountID: "acct\(index)", email: "user\(index)@example.com", provider: .custom, clientID: "client",
                        clientSecret: "secret", refreshToken: "refresh-\(index)", password: "pw-\(index)",
                        tokenURL: "http://127.0.0.1:\(port)/token", smtpHost: "127.0.0.1", smtpPort: 25, smtpTLS: .none)
            }
            var settings = ProxyRuntime.Configuration()
            settings.resilience.tokenBreaker.failureThreshold = 1
            // The HTTP client retries a refused connect until the request's time is up.
            settings.tokenRequestTimeout = .seconds(1)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let results = try await AccountChecker.run(try AccountDirectory(accounts: accounts), settings: settings, smtp: false,
                                                       concurrency: 1, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
            #expect(results.map(\.token) == [.failed, .failed, .failed])
            // The first account's refresh failed at the endpoint; the others were held back
            // without a request, as `serve` holds them back.
            #expect(results.first?.error?.hasPrefix("access token unavailable") == true)
            #expect(results.dropFirst().allSatisfy { $0.error?.contains("is failing; requests held back") == true })
        }
    }
}
