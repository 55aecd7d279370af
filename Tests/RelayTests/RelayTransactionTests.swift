@testable import Relay
import SMTPCore
import Testing

/// The relay's bookkeeping with no sockets: replies in command order, and what becomes of the
/// upstream connection (an `Int` lease here) after every outcome, above all the outcomes that
/// would hand the next user of a pooled connection an upstream in the wrong state.
struct RelayTransactionTests {
    typealias Transaction = RelayTransaction<Int>
    struct Lost: Error {}

    static let ok = SMTPReply(250, "2.0.0", "OK")
    static let go = SMTPReply(code: 354, lines: ["Go ahead"])

    /// A transaction whose client said EHLO and logged in, with those replies taken.
    static func loggedIn() -> Transaction {
        var transaction = Transaction(server: SMTPServerStateMachine())
        _ = transaction.command(.success(.ehlo("client")))
        guard case .verifyCredentials = transaction.command(.success(.auth(mechanism: "PLAIN", initialResponse: "AHVzZXIAcGFzcw=="))) else {
            Issue.record("AUTH PLAIN was not taken")
            return transaction
        }
        _ = transaction.authenticationResult(user: "user@example.com")
        _ = transaction.takeReadyReplies()
        return transaction
    }

    /// MAIL and RCPTs pipelined on lease 7, DATA behind them when asked; no replies fed yet.
    static func pipelined(recipients: Int, data: Bool, pipelining: Bool = true) -> Transaction {
        var transaction = loggedIn()
        guard case .startMail = transaction.command(.success(.mail(from: "a@example.com", parameters: []))) else {
            Issue.record("MAIL was not taken")
            return transaction
        }
        #expect(isNil(transaction.mailStarting()))
        #expect(isNil(transaction.leased(7, pipelining: pipelining)))
        transaction.sent(.mail)
        for index in 0..<recipients {
            guard case .addRecipient = transaction.command(.success(.rcpt(to: "r\(index)@example.com", parameters: []))) else {
                Issue.record("RCPT was not taken")
                return transaction
            }
            transaction.sent(.recipient)
        }
        if data {
            #expect(transaction.shouldPipelineData)
            transaction.sent(.dataStart)
        }
        return transaction
    }

    static func isNil(_ action: Transaction.LeaseAction?) -> Bool { action == nil }

    static func closed(_ action: Transaction.LeaseAction?) -> Int? {
        if case .close(let lease)? = action { lease } else { nil }
    }

    static func released(_ action: Transaction.LeaseAction?) -> (lease: Int, needsReset: Bool, messageSent: Bool)? {
        if case .release(let lease, let needsReset, let messageSent)? = action { (lease, needsReset, messageSent) } else { nil }
    }

    static func codes(_ replies: [SMTPReply]) -> [Int] { replies.map(\.code) }

    @Test func aPipelinedMessageIsAnsweredInOrderAndTheLeaseGoesBackClean() {
        var transaction = Self.pipelined(recipients: 2, data: true)
        #expect(transaction.takeReadyReplies().isEmpty, "nothing is owed before the upstream answers")
        #expect(transaction.upstreamReplied(.success(SMTPReply(250, "2.1.0", "Sender OK"))).isEmpty)
        #expect(transaction.upstreamReplied(.success(Self.ok)).isEmpty)
        #expect(transaction.upstreamReplied(.success(Self.ok)).isEmpty)
        #expect(transaction.upstreamReplied(.success(Self.go)).isEmpty)
        #expect(Self.isNil(transaction.settle().action), "the transaction is open: the lease stays")
        #expect(Self.codes(transaction.takeReadyReplies()) == [250, 250, 250])
        #expect(transaction.recipientCount == 2)

        guard case .startData = transaction.command(.success(.data)),
              case .pipelined(let reply) = transaction.dataRequested() else {
            Issue.record("DATA did not use the pipelined reply")
            return
        }
        let (pushback, action) = transaction.dataReplied(reply)
        #expect(pushback == nil && Self.isNil(action))
        #expect(Self.isNil(transaction.dataCommandHandled()))
        #expect(Self.codes(transaction.takeReadyReplies()) == [354])

        guard case (.forward, nil) = transaction.bodyChunk(size: 100, maxSize: 1000) else {
            Issue.record("the body was not forwarded")
            return
        }
        guard case .sendTerminator? = transaction.endOfData(.init(size: 100, sawLongLine: false, sawBareLineEnding: false)) else {
            Issue.record("the terminator was not sent")
            return
        }
        let end = transaction.terminatorReplied(.success(Self.ok))
        #expect(Self.released(end.action).map { [$0.lease, $0.needsReset ? 1 : 0, $0.messageSent ? 1 : 0] } == [7, 0, 1])
        #expect(transaction.messageEnded(end.reply) == 100)
        #expect(!transaction.isInTransaction)
        #expect(Self.codes(transaction.takeReadyReplies()) == [250])
    }

    @Test(arguments: [
        (Result<SMTPReply, any Error>.success(go), "answered 354"),
        (.failure(Lost()), "not answered"),
    ])
    func mailRefusedWithADataTheUpstreamMayHaveOpenedClosesTheConnection(data: Result<SMTPReply, any Error>, _ label: String) {
        var transaction = Self.pipelined(recipients: 1, data: true)
        _ = transaction.upstreamReplied(.success(SMTPReply(550, "5.7.1", "Sender refused")))
        _ = transaction.upstreamReplied(.success(SMTPReply(503, "5.5.1", "Need MAIL")))
        _ = transaction.upstreamReplied(data)
        #expect(Self.closed(transaction.settle().action) == 7, "a DATA \(label) may leave the upstream inside a body")
        #expect(Self.codes(transaction.takeReadyReplies()) == [550, 503])
    }

    @Test func mailRefusedWithDataRefusedTooGivesTheConnectionBackClean() {
        var transaction = Self.pipelined(recipients: 1, data: true)
        _ = transaction.upstreamReplied(.success(SMTPReply(550, "5.7.1", "Sender refused")))
        _ = transaction.upstreamReplied(.success(SMTPReply(503, "5.5.1", "Need MAIL")))
        _ = transaction.upstreamReplied(.success(SMTPReply(503, "5.5.1", "Need RCPT")))
        let released = Self.released(transaction.settle().action)
        #expect(released?.lease == 7 && released?.needsReset == false)
        #expect(!transaction.isInTransaction)
    }

    @Test func everyRecipientRefusedAndAnUnusedDataOpenedClosesTheConnection() {
        var transaction = Self.pipelined(recipients: 1, data: true)
        _ = transaction.upstreamReplied(.success(Self.ok))
        #expect(transaction.upstreamReplied(.success(SMTPReply(550, "5.1.1", "No such user"))) == [.recipientRefused])
        _ = transaction.upstreamReplied(.success(Self.go))
        #expect(Self.isNil(transaction.settle().action))
        // The client's DATA is refused (no valid recipients), so the upstream's 354 is never used.
        #expect(transaction.command(.success(.data)) == .reply(SMTPReply(554, "5.5.1", "No valid recipients")))
        #expect(Self.closed(transaction.dataCommandHandled()) == 7)
        #expect(transaction.recipientCount == 0)
    }

    @Test func aRecipientReplyThatEndsTheUpstreamLosesTheTransaction() {
        var transaction = Self.pipelined(recipients: 1, data: false)
        _ = transaction.upstreamReplied(.success(Self.ok))
        _ = transaction.upstreamReplied(.success(SMTPReply(421, "4.4.2", "Closing")))
        let settled = transaction.settle()
        #expect(Self.closed(settled.action) == 7 && settled.lost)
        #expect(Self.codes(transaction.takeReadyReplies()) == [250, 451])
        // The rest of the transaction hears that the upstream is gone, until MAIL or RSET.
        #expect(transaction.command(.success(.data)) == .reply(RelayFailure.upstreamLost.clientReply))
    }

    @Test func aMailThatNeverGetsAnAnswerIsAnsweredLostAndTheConnectionClosed() {
        var transaction = Self.pipelined(recipients: 0, data: false)
        _ = transaction.upstreamReplied(.failure(Lost()))
        let settled = transaction.settle()
        #expect(Self.closed(settled.action) == 7 && settled.lost)
        #expect(transaction.takeReadyReplies().map(\.enhancedStatus) == ["4.4.2"])
        #expect(!transaction.isInTransaction)
    }

    @Test func providerPushbackIsReported() {
        var transaction = Self.pipelined(recipients: 0, data: false)
        #expect(transaction.upstreamReplied(.success(SMTPReply(550, "5.4.5", "Daily user sending limit exceeded"))) == [.pushback(.quotaExhausted)])
        #expect(transaction.takeReadyReplies().map(\.code) == [451])
    }

    @Test func localRepliesKeepTheirPlaceBetweenUpstreamOnes() {
        var transaction = Self.pipelined(recipients: 1, data: false)
        _ = transaction.command(.success(.rcpt(to: "held@example.com", parameters: [])))
        transaction.recipientAnswered(SMTPReply(452, "4.5.3", "Recipient limit for this account"))
        _ = transaction.command(.success(.rcpt(to: "r1@example.com", parameters: [])))
        transaction.sent(.recipient)
        _ = transaction.upstreamReplied(.success(Self.ok))
        #expect(Self.codes(transaction.takeReadyReplies()) == [250], "the second reply waits for the first RCPT's verdict")
        _ = transaction.upstreamReplied(.success(SMTPReply(251, "2.1.5", "first")))
        _ = transaction.upstreamReplied(.success(SMTPReply(252, "2.1.5", "third")))
        #expect(Self.codes(transaction.takeReadyReplies()) == [251, 452, 252])
    }

    @Test func theResetForAPreviousUserIsNobodysReply() {
        var transaction = Self.loggedIn()
        _ = transaction.command(.success(.mail(from: "a@example.com", parameters: [])))
        _ = transaction.leased(7, pipelining: true)
        transaction.sent(.reset)
        transaction.sent(.mail)
        _ = transaction.upstreamReplied(.success(Self.ok))
        _ = transaction.upstreamReplied(.success(SMTPReply(250, "2.1.0", "Sender OK")))
        #expect(transaction.takeReadyReplies().map(\.enhancedStatus) == ["2.1.0"])
    }

    @Test func aClientResetGivesTheConnectionBackWithAResetOwed() {
        var transaction = Self.pipelined(recipients: 1, data: false)
        _ = transaction.upstreamReplied(.success(Self.ok))
        _ = transaction.upstreamReplied(.success(Self.ok))
        _ = transaction.settle()
        let released = Self.released(transaction.abandon())
        #expect(released?.lease == 7 && released?.needsReset == true && released?.messageSent == false)
        #expect(Self.isNil(transaction.abandon()), "a lease ends once")
    }

    /// QUIT ends the client's transaction without any upstream reply: the upstream still has it
    /// open, so the lease must go back with RSET owed, not as clean.
    @Test func aQuitAfterAGoodRecipientLeavesTheUpstreamTransactionToAbandon() {
        var transaction = Self.pipelined(recipients: 1, data: false)
        _ = transaction.upstreamReplied(.success(Self.ok))
        _ = transaction.upstreamReplied(.success(Self.ok))
        #expect(Self.isNil(transaction.settle().action))
        guard case .close = transaction.command(.success(.quit)) else {
            Issue.record("QUIT did not close")
            return
        }
        #expect(Self.isNil(transaction.settle().action))
        #expect(Self.released(transaction.abandon())?.needsReset == true)
    }

    static func inBody(maxSizeFailure: Bool = false) -> Transaction {
        var transaction = Self.pipelined(recipients: 1, data: false)
        _ = transaction.upstreamReplied(.success(Self.ok))
        _ = transaction.upstreamReplied(.success(Self.ok))
        _ = transaction.settle()
        _ = transaction.command(.success(.data))
        guard case .send = transaction.dataRequested() else {
            Issue.record("DATA was not sent")
            return transaction
        }
        _ = transaction.dataReplied(.success(Self.go))
        _ = transaction.takeReadyReplies()
        return transaction
    }

    @Test func leavingOrResettingInsideABodyClosesTheConnection() {
        var leaving = Self.inBody()
        _ = leaving.bodyChunk(size: 10, maxSize: 100)
        #expect(Self.closed(leaving.sessionEnded()) == 7)
        var resetting = Self.inBody()
        #expect(Self.closed(resetting.abandon()) == 7)
    }

    @Test func leavingWithRepliesOnTheirWayClosesTheConnection() {
        var transaction = Self.pipelined(recipients: 1, data: false)
        #expect(Self.closed(transaction.sessionEnded()) == 7)
    }

    @Test func aBodyOverTheLimitClosesTheConnectionAndIsRefusedAtItsEnd() {
        var transaction = Self.inBody()
        guard case (.forward, nil) = transaction.bodyChunk(size: 60, maxSize: 100),
              case (.drop, let action) = transaction.bodyChunk(size: 60, maxSize: 100) else {
            Issue.record("the chunk over the limit was forwarded")
            return
        }
        #expect(Self.closed(action) == 7)
        guard case (.drop, nil) = transaction.bodyChunk(size: 60, maxSize: 100),
              case .answered(let reply, nil)? = transaction.endOfData(.init(size: 180, sawLongLine: false, sawBareLineEnding: false)) else {
            Issue.record("the rest of the body was not dropped")
            return
        }
        #expect(reply.code == 552 && reply.enhancedStatus == "5.3.4")
        #expect(transaction.messageEnded(reply) == 180)
    }

    @Test func nothingAfterABareLineEndingGoesUpAndTheMessageIsRefused() {
        var transaction = Self.inBody()
        #expect(Self.closed(transaction.bodyChunkRefused(size: 5)) == 7)
        guard case (.drop, nil) = transaction.bodyChunk(size: 5, maxSize: 100),
              case .answered(let reply, nil)? = transaction.endOfData(.init(size: 10, sawLongLine: false, sawBareLineEnding: true)) else {
            Issue.record("a chunk after the bare line ending was forwarded")
            return
        }
        #expect(reply.enhancedStatus == "5.6.0")
    }

    @Test(arguments: [(true, false, "5.5.2"), (false, true, "5.6.0")])
    func aLongLineOrBareLineEndingSeenAtTheEndClosesTheConnection(longLine: Bool, bare: Bool, status: String) {
        var transaction = Self.inBody()
        guard case .answered(let reply, let action)? = transaction.endOfData(.init(size: 10, sawLongLine: longLine, sawBareLineEnding: bare)) else {
            Issue.record("the terminator was sent")
            return
        }
        #expect(reply.enhancedStatus == status && Self.closed(action) == 7)
    }

    @Test func aTerminatorReplyThatEndsTheUpstreamClosesIt() {
        var transaction = Self.inBody()
        _ = transaction.endOfData(.init(size: 0, sawLongLine: false, sawBareLineEnding: false))
        let end = transaction.terminatorReplied(.success(SMTPReply(421, "4.4.2", "Closing")))
        #expect(Self.closed(end.action) == 7 && end.reply.code == 451)
        var lost = Self.inBody()
        _ = lost.endOfData(.init(size: 0, sawLongLine: false, sawBareLineEnding: false))
        let failed = lost.terminatorReplied(.failure(Lost()))
        #expect(Self.closed(failed.action) == 7 && failed.reply.enhancedStatus == "4.4.2")
    }

    @Test func aDataRefusedUpstreamLeavesTheTransactionOpen() {
        var transaction = Self.pipelined(recipients: 1, data: false)
        _ = transaction.upstreamReplied(.success(Self.ok))
        _ = transaction.upstreamReplied(.success(Self.ok))
        _ = transaction.settle()
        _ = transaction.command(.success(.data))
        _ = transaction.dataRequested()
        let (_, action) = transaction.dataReplied(.success(SMTPReply(451, "4.3.0", "Try later")))
        #expect(Self.isNil(action) && transaction.body == nil && transaction.isInTransaction)
        #expect(transaction.takeReadyReplies().map(\.code) == [250, 250, 451])
    }

    @Test func withoutAnUpstreamDataIsAnsweredLost() {
        var transaction = Self.pipelined(recipients: 1, data: false)
        _ = transaction.upstreamReplied(.success(Self.ok))
        _ = transaction.upstreamReplied(.success(Self.ok))
        _ = transaction.closeLease()
        _ = transaction.command(.success(.data))
        guard case .answered = transaction.dataRequested() else {
            Issue.record("DATA was sent without an upstream")
            return
        }
        #expect(transaction.takeReadyReplies().last?.enhancedStatus == "4.4.2")
    }

    @Test func theRelaysGreetingNamesTheProduct() {
        #expect(SMTPServerStateMachine(configuration: RelaySessionConfiguration().stateMachine).greeting.lines.first?.hasSuffix("ESMTP xoauth2-proxy ready") == true)
    }

    @Test func aNonPipeliningUpstreamNeverGetsDataBehindMail() {
        let transaction = Self.pipelined(recipients: 1, data: false, pipelining: false)
        #expect(!transaction.shouldPipelineData)
    }
}
