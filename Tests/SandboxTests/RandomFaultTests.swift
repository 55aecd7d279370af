import NIOCore
import SMTPCore
import SMTPNIO
import TestSupport
import Testing
@testable import Sandbox

/// Seeded random faults over a real STARTTLS + XOAUTH2 session, and the statistics they leave.
@Suite struct RandomFaultTests {
    private static let message = "Subject: soak\r\n\r\nhello\r\n.leading dot\r\n"
    private static let tempFail = SMTPReply(451, "4.3.0", "Temporary server error")
    private static let closing = SMTPReply(421, "4.7.0", "Try again later, closing connection")

    private func withHarness(_ body: (SandboxHarness) async throws -> Void) async throws {
        try await withTeardown(setUp: { try await SandboxHarness.start() }, tearDown: { await $0.stop() }, body)
    }

    @Test func injected421AtAStepIsAnsweredAndTheConnectionClosed() async throws {
        try await withHarness { harness in
            harness.faults.setRandomFaults(.init(seed: 42, replyRate: 1, replies: [Self.closing], steps: [.rcpt]))
            let client = try await harness.session()
            let replies = try await client.sendMessage(message: Self.message)
            #expect(replies == [SMTPReply(250, "2.1.0", "OK"), Self.closing])
            #expect(await client.closedByPeer())
            #expect(harness.faults.statistics == .init(injectedReplies: 1))
            #expect(harness.store.acceptedCount == 0)
        }
    }

    @Test func injected451LeavesTheConnectionUsable() async throws {
        try await withHarness { harness in
            harness.faults.setRandomFaults(.init(seed: 42, replyRate: 1, replies: [Self.tempFail], steps: [.endOfData]))
            let client = try await harness.session()
            #expect(try await client.sendMessage(message: Self.message).last == Self.tempFail)
            #expect(try await client.command("NOOP").code == 250)
            harness.faults.setRandomFaults(nil)
            #expect(try await client.sendMessage(message: Self.message).last?.code == 250)
            #expect(harness.faults.statistics == .init(injectedReplies: 1))
            #expect(harness.store.acceptedCount == 1)
            await client.quit()
        }
    }

    @Test func countedInjectionOf421ClosesTooAndComesBeforeRandomFaults() async throws {
        try await withHarness { harness in
            harness.faults.setRandomFaults(.init(seed: 1, replyRate: 1, replies: [Self.tempFail], steps: [.mail]))
            harness.faults.inject(Self.closing, at: .mail)
            let first = try await harness.session()
            #expect(try await first.command("MAIL FROM:<a@example.com>") == Self.closing)
            #expect(await first.closedByPeer())
            let second = try await harness.session()
            #expect(try await second.command("MAIL FROM:<a@example.com>") == Self.tempFail)
            #expect(harness.faults.statistics == .init(injectedReplies: 2))
            await second.quit()
        }
    }

    @Test func dropRateOneClosesWithoutAReply() async throws {
        try await withHarness { harness in
            harness.faults.setRandomFaults(.init(seed: 7, dropRate: 1, steps: [.data]))
            let client = try await harness.session()
            #expect(try await client.command("MAIL FROM:<a@example.com>").code == 250)
            #expect(try await client.command("RCPT TO:<b@example.net>").code == 250)
            await #expect(throws: SMTPNIOError.connectionClosed) { try await client.command("DATA") }
            #expect(harness.faults.statistics == .init(drops: 1))
            #expect(harness.store.acceptedCount == 0)
        }
    }

    @Test func dropAfterAcceptStoresTheMessageButNeverAcknowledgesIt() async throws {
        try await withHarness { harness in
            harness.faults.setRandomFaults(.init(seed: 7, dropAfterAcceptRate: 1))
            let client = try await harness.session()
            await #expect(throws: SMTPNIOError.connectionClosed) {
                try await client.sendMessage(from: "from@example.com", to: ["x@example.net", "y@example.net"], message: Self.message)
            }
            #expect(await client.closedByPeer())
            #expect(harness.faults.statistics == .init(droppedAfterAccept: 1))
            let stored = harness.store.messages
            #expect(stored.count == 1)
            #expect(stored.first?.mailFrom == "from@example.com")
            #expect(stored.first?.recipients == ["x@example.net", "y@example.net"])
            #expect(stored.first?.authenticatedUser == SandboxHarness.email)
            #expect(stored.first.map { String(decoding: $0.data, as: UTF8.self) } == Self.message)
        }
    }

    @Test func countedDropsAndRejectionsAreCountedToo() async throws {
        try await withHarness { harness in
            harness.faults.rejectRecipient("nobody@example.net")
            harness.faults.dropConnectionDuringData(afterBytes: 5)
            let client = try await harness.session()
            #expect(try await client.sendMessage(to: ["nobody@example.net"], message: Self.message).last?.code == 550)
            #expect(try await client.command("RSET").code == 250)
            // The drop reaches the client as a failed write or as a write to a channel already
            // closed, whichever the race gives: both are the connection closed.
            do {
                _ = try await client.sendMessage(message: Self.message)
                Issue.record("the connection was not dropped during DATA")
            } catch let error as SMTPNIOError {
                #expect(error == .connectionClosed)
            } catch let error as ChannelError {
                #expect(error == .ioOnClosedChannel)
            }
            #expect(harness.faults.statistics == .init(injectedReplies: 1, drops: 1))
            harness.faults.reset()
            #expect(harness.faults.statistics == .init())
        }
    }
}

/// The decision sequence itself, without sockets.
@Suite struct RandomFaultDrawTests {
    private func decisions(_ faults: SandboxFaults, count: Int) -> [SandboxFaults.StepFault?] {
        (0..<count).map { _ in faults.takeFault(at: .mail) }
    }

    @Test func theSameSeedGivesTheSameDecisionsAndRatesHold() {
        let settings = SandboxFaults.RandomFaults(seed: 2024, replyRate: 0.3, dropRate: 0.2)
        let a = SandboxFaults()
        let b = SandboxFaults()
        a.setRandomFaults(settings)
        b.setRandomFaults(settings)
        let first = decisions(a, count: 2000)
        #expect(first == decisions(b, count: 2000))
        let drops = first.filter { $0 == .drop }.count
        let replies = first.filter { if case .reply = $0 { true } else { false } }.count
        #expect((300...500).contains(drops))
        #expect((500...700).contains(replies))
        #expect(a.statistics == .init(injectedReplies: replies, drops: drops))
        // Both default replies turn up.
        #expect(Set(first.compactMap { if case .reply(let r) = $0 { r.code } else { nil } }) == [421, 451])
        // Setting the faults again restarts the sequence.
        a.setRandomFaults(settings)
        #expect(decisions(a, count: 50) == Array(first.prefix(50)))
    }

    @Test func stepsOutsideTheSetAndZeroRatesNeverFire() {
        let faults = SandboxFaults()
        faults.setRandomFaults(.init(seed: 3, replyRate: 1, dropRate: 1, dropAfterAcceptRate: 1, steps: [.rcpt]))
        #expect(faults.takeFault(at: .ehlo) == nil)
        #expect(faults.takeFault(at: .mail) == nil)
        faults.setRandomFaults(.init(seed: 3))
        #expect((0..<100).allSatisfy { _ in faults.takeFault(at: .mail) == nil && !faults.takeDropAfterAccept() })
        #expect(faults.statistics == .init())
    }
}
