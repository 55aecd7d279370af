import Foundation
import NIOCore
import Relay
import Resilience
import Sandbox
import SMTPCore
import Testing

/// The acceptance run: 2,000 messages from 20 clients while the provider drops
/// connections and answers 421/451 at random, and the token endpoint fails 30% of requests.
/// Clients retry on 4xx as MTAs do. Nothing may be lost, nothing reported delivered that was
/// not, and duplicates only where the provider accepted a message but its reply was lost.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct FaultInjectionSoakTests {
    static let clients = 20
    static let messagesPerClient = 100

    @Test func everyMessageArrivesUnderRandomFaults() async throws {
        try await withRelayHarness(accounts: 10, tokenLifetime: .seconds(2), configure: { settings in
            // Short-lived tokens, so the failing token endpoint is exercised throughout and
            // connections are retired and reopened all the time.
            settings.tokenExpiryMargin = .milliseconds(1200)
            settings.upstreamTokenExpirySafety = .milliseconds(500)
            settings.upstreamTimeouts.command = .seconds(5)
            settings.upstreamTimeouts.dataEnd = .seconds(5)
            settings.resilience.slowDownBackoff = ExponentialBackoff(initial: .milliseconds(10), maximum: .milliseconds(200))
            settings.resilience.hostBreaker.coolDown = ExponentialBackoff(initial: .milliseconds(50), maximum: .milliseconds(500))
            settings.resilience.tokenBreaker.coolDown = ExponentialBackoff(initial: .milliseconds(50), maximum: .milliseconds(500))
        }, messagesInMemory: 2 * Self.clients * Self.messagesPerClient) { harness in
            try await Self.soak(harness)
        }
    }

    static func soak(_ harness: RelayHarness) async throws {
        harness.sandbox.faults.setRandomFaults(.init(seed: 42, replyRate: 0.02, dropRate: 0.01, dropAfterAcceptRate: 0.005,
                                                     steps: Set(SandboxStep.allCases)))
        harness.sandbox.issuer.setFailureRate(0.3, seed: 7)

        let outcomes = try await withThrowingTaskGroup(of: ClientOutcome.self) { group in
            for index in 0..<Self.clients {
                group.addTask { try await Self.runClient(index, harness: harness) }
            }
            var all: [ClientOutcome] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        harness.sandbox.faults.setRandomFaults(nil)

        let confirmed = Set(outcomes.flatMap(\.confirmed))
        let retries = outcomes.map(\.retries).reduce(0, +)
        var stored: [String: Int] = [:]
        for message in harness.sandbox.store.messages {
            if let id = Self.messageID(in: message.data) { stored[id, default: 0] += 1 }
        }
        let duplicates = stored.values.map { $0 - 1 }.reduce(0, +)
        let faults = harness.sandbox.faults.statistics
        print("""
            fault-injection soak: \(confirmed.count) messages confirmed, \(stored.count) distinct stored, \
            \(duplicates) duplicates, \(retries) client retries; provider faults: \(faults.injectedReplies) replies, \
            \(faults.drops) drops, \(faults.droppedAfterAccept) replies lost after accepting; \
            token endpoint: \(harness.sandbox.issuer.failedRequestCount) failed, \(harness.sandbox.issuer.issuedTokenCount()) issued
            """)
        #expect(confirmed.count == Self.clients * Self.messagesPerClient)
        // Nothing reported delivered without being delivered.
        #expect(confirmed.allSatisfy { stored[$0] != nil })
        // Nothing delivered that nobody sent.
        #expect(stored.keys.allSatisfy { confirmed.contains($0) })
        // A duplicate needs a provider that accepted and whose reply never came back.
        #expect(duplicates <= faults.droppedAfterAccept)
        #expect(faults.injectedReplies > 0 && faults.drops > 0 && harness.sandbox.issuer.failedRequestCount > 0)
    }

    struct ClientOutcome: Sendable {
        var confirmed: [String] = []
        var retries = 0
    }

    /// An MTA's behaviour in miniature: each message is retried on any 4xx or lost connection,
    /// with a fresh session when the old one is gone.
    static func runClient(_ index: Int, harness: RelayHarness) async throws -> ClientOutcome {
        var outcome = ClientOutcome()
        var client: TestSMTPClient?
        for number in 0..<messagesPerClient {
            let id = "<soak-\(index)-\(number)@test>"
            let message = "Message-ID: \(id)\r\nSubject: soak \(index) \(number)\r\n\r\nbody \(number)\r\n"
            var attempts = 0
            while true {
                attempts += 1
                guard attempts <= 200 else { throw TestFailure("message \(id) never went through") }
                do {
                    if client == nil { client = try await harness.client(account: index % harness.accounts.count) }
                    guard let session = client else { continue }
                    let replies = try await session.send(to: ["rcpt\(index)@example.net"], message: message)
                    if replies.count == 4, replies.allSatisfy({ $0.isPositiveCompletion || $0.code == 354 }) {
                        outcome.confirmed.append(id)
                        break
                    }
                    // Later 5xx (503 after a refused MAIL, 554 for DATA without recipients) follow
                    // from an earlier temporary failure; only a verdict on the message counts.
                    let verdicts = replies[0].isPositiveCompletion ? [replies[0], replies[1]] + replies.dropFirst(3) : [replies[0]]
                    guard !verdicts.contains(where: \.isPermanentFailure) else { throw TestFailure("permanent failure for \(id): \(replies)") }
                    if replies.last?.code != 354 { _ = try await session.command("RSET") }
                } catch let failure as TestFailure {
                    throw failure
                } catch {
                    await client?.quit()
                    client = nil
                }
                outcome.retries += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...10)))
            }
        }
        await client?.quit()
        return outcome
    }

    static func messageID(in data: [UInt8]) -> String? {
        let text = String(decoding: data.prefix(200), as: UTF8.self)
        guard let line = text.split(separator: "\r\n").first(where: { $0.hasPrefix("Message-ID: ") }) else { return nil }
        return String(line.dropFirst("Message-ID: ".count))
    }
}
