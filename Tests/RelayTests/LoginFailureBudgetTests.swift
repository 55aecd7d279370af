import NIOCore
@testable import Relay
import Resilience
import SMTPCore
import TestSupport
import Testing

/// Password guessing across connections: past the budget for a login name or a client address,
/// logins are refused unchecked with 454 4.7.0, the same for names that exist and names that do
/// not, until the window passes (issue 13, item 3).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct LoginFailureBudgetTests {
    @Test func guessesAcrossConnectionsExhaustTheBudgetUntilTheWindowPasses() async throws {
        let clock = ManualClock()
        try await withRelayHarness(configure: { settings in
            settings.resilience.clock = clock.clock
            settings.server.loginFailures.maxFailures = 4
            settings.server.loginFailures.firstDelay = .zero
        }) { harness in
            let account = harness.accounts[0]
            // For a real name and one that does not exist: two connections, two wrong guesses
            // each (a third would close the connection). Clients on loopback are counted by
            // name only, as in a sidecar.
            for name in [account.email, "nobody@example.com"] {
                for _ in 0..<2 {
                    let guesser = try await harness.client(login: false)
                    for guess in 0..<2 {
                        #expect(try await guesser.login(name, "guess-\(guess)").code == 535)
                    }
                    await guesser.quit()
                }
            }
            // Both budgets are spent: the right password is refused unchecked, and the name
            // that does not exist hears the same words.
            let late = try await harness.client(login: false)
            let refused = try await late.login(account.email, account.password)
            #expect(refused == SMTPReply(454, "4.7.0", "Too many failed logins; try again later"))
            let unknown = try await late.login("nobody@example.com", "whatever")
            #expect(unknown == refused)
            await late.quit()

            clock.advance(by: .seconds(301))
            let after = try await harness.client(login: false)
            #expect(try await after.login(account.email, account.password).code == 235)
            #expect(try await after.send(to: ["a@example.net"], message: "x\r\n").last?.code == 250)
        }
    }
}

/// The budget itself, on a manual clock.
@Suite struct LoginFailureBudgetUnitTests {
    @Test func delaysGrowAndMemoryStaysBounded() {
        let clock = ManualClock()
        var configuration = LoginFailureBudget.Configuration()
        configuration.maxFailures = 2
        configuration.capacity = 8
        let budget = LoginFailureBudget(configuration: configuration, clock: clock.clock)
        #expect(budget.recordFailure(name: "Eve@Example.com", address: "192.0.2.1") == .init(startsBurst: true, exhaustsBudget: false))
        #expect(budget.recordFailure(name: "eve@example.com", address: "192.0.2.2") == .init(startsBurst: true, exhaustsBudget: true))
        #expect(budget.check(name: "EVE@example.com", address: "198.51.100.7") == .refused(delay: .seconds(1)))
        #expect(budget.check(name: "eve@example.com", address: nil) == .refused(delay: .seconds(2)))
        #expect(budget.check(name: "eve@example.com", address: nil) == .refused(delay: .seconds(4)))
        for _ in 0..<10 { _ = budget.check(name: "eve@example.com", address: nil) }
        #expect(budget.check(name: "eve@example.com", address: nil) == .refused(delay: .seconds(30)))
        #expect(budget.check(name: "someone@example.com", address: "192.0.2.9") == .allowed)

        for index in 0..<100 {
            _ = budget.recordFailure(name: "spray-\(index)@example.com", address: "203.0.113.\(index)")
        }
        #expect(budget.trackedKeys <= 8)
        clock.advance(by: .seconds(301))
        #expect(budget.check(name: "eve@example.com", address: nil) == .allowed)
    }
}

@Suite struct FailureBudgetAddressTests {
    @Test(arguments: [("127.0.0.1", nil), ("127.1.2.3", nil), ("::1", nil), ("::ffff:127.0.0.1", nil),
                      ("10.1.2.3", "10.1.2.3"), ("2001:db8::7", "2001:db8::7")] as [(String, String?)])
    func loopbackClientsAreCountedByNameOnly(ip: String, counted: String?) throws {
        #expect(RelayServer.failureBudgetAddress(try SocketAddress(ipAddress: ip, port: 2525)) == counted)
    }
}
