import Accounts
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import OAuth2
@testable import Relay
import Resilience
import SMTPCore
import SMTPNIO
import Testing

/// `RelaySessionHandler` alone, behind the real framer in an `EmbeddedChannel`: what it answers
/// before any upstream is involved, how it batches replies, and when it lets reads through.
@Suite struct RelaySessionHandlerTests {
    static let email = "user@example.com"
    static let password = "right-password"

    /// Any token request fails: nothing here may reach a provider.
    struct NoTokenEndpoint: TokenHTTPTransport {
        struct Refused: Error {}
        func postForm(url: String, body: String, timeout: Duration) async throws -> (status: Int, body: [UInt8]) { throw Refused() }
    }

    /// Counts the reads and flushes that get past the framer to the socket's end.
    final class SocketEnd: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var reads = 0
        var flushes = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
        func flush(context: ChannelHandlerContext) {
            flushes += 1
            context.flush()
        }
    }

    struct Session {
        let channel: EmbeddedChannel
        let socket: SocketEnd
        let budget: LoginFailureBudget
        let metrics: RecordingRelayMetrics

        func send(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }

        /// Every reply line written so far.
        func replies() throws -> [String] {
            var lines: [String] = []
            while let bytes = try channel.readOutbound(as: ByteBuffer.self) {
                lines += String(buffer: bytes).split(separator: "\r\n").map(String.init)
            }
            return lines
        }

        func codes() throws -> [String] { try replies().map { String($0.prefix(3)) } }
    }

    static func session(budget: LoginFailureBudget.Configuration = .init()) throws -> Session {
        let logger = Logger(label: "test")
        let tokens = TokenCache(grant: RefreshTokenGrant(transport: NoTokenEndpoint()), logger: logger)
        let connector = UpstreamConnector(group: MultiThreadedEventLoopGroup.singleton, tokens: tokens, heloName: "relay.test",
                                          hostBreakers: CircuitBreakerRegistry(), logger: logger, dryRun: true)
        let account = Account(email: email, provider: .custom, clientID: "client", password: password,
                              tokenURL: "http://127.0.0.1:9/token", smtpHost: "127.0.0.1", smtpPort: 9, smtpTLS: .none)
        let accounts = try RelayAccounts(directory: AccountDirectory(accounts: [account]), tls: UpstreamTLSContexts(), connector: connector)
        let failures = LoginFailureBudget(configuration: budget)
        let metrics = RecordingRelayMetrics()
        let environment = RelaySessionHandler.Environment(accounts: accounts, configuration: RelaySessionConfiguration(), logger: logger,
                                                          drain: nil, loginFailures: failures, metrics: metrics, clientAddress: "192.0.2.1")
        let socket = SocketEnd()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([socket, SMTPServerFramingHandler(), RelaySessionHandler(environment)])
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 25)).wait()
        return Session(channel: channel, socket: socket, budget: failures, metrics: metrics)
    }

    static func plain(_ user: String, _ password: String) -> String {
        "AUTH PLAIN " + Data("\0\(user)\0\(password)".utf8).base64EncodedString() + "\r\n"
    }

    @Test func greetsOnceActiveAndAnswersAPipelinedGroupInOneFlush() throws {
        let session = try Self.session()
        let greeting = try session.replies()
        #expect(greeting.count == 1 && greeting[0].hasPrefix("220 ") && greeting[0].hasSuffix("ESMTP xoauth2-proxy ready"), "\(greeting)")
        let flushesBefore = session.socket.flushes
        try session.send("EHLO client.test\r\nNOOP\r\nRSET\r\nNOOP\r\n")
        let codes = try session.codes()
        #expect(codes.first == "250" && codes.count > 4, "EHLO's lines, then three answers: \(codes)")
        #expect(codes.suffix(3) == ["250", "250", "250"])
        #expect(session.socket.flushes - flushesBefore == 1, "one group, one flush")
    }

    @Test func theAccountsPasswordLogsInAndAWrongOneIsRefusedAndCounted() throws {
        let session = try Self.session()
        _ = try session.replies()
        try session.send("EHLO client.test\r\n")
        _ = try session.replies()
        try session.send(Self.plain(Self.email, "wrong"))
        #expect(try session.codes() == ["535"])
        try session.send(Self.plain(Self.email.uppercased(), Self.password))
        #expect(try session.codes() == ["235"])
        #expect(session.budget.trackedKeys == 2, "the failure was counted by name and by address")
        #expect(session.metrics.events == [.loginFailed(.failed)])
    }

    /// Over the failure budget the answer comes late. The session waits, but a client that
    /// waits too sends nothing, so reads go on (no read-interest toggling per wait). What the
    /// client sends meanwhile is answered in order once the wait is over.
    @Test func aLateAnswerDoesNotHoldReadsWhileNothingIsQueued() throws {
        var budget = LoginFailureBudget.Configuration()
        budget.maxFailures = 1
        budget.firstDelay = .seconds(1)
        let session = try Self.session(budget: budget)
        _ = session.budget.recordFailure(name: Self.email, address: "192.0.2.1")
        _ = try session.replies()
        try session.send("EHLO client.test\r\n")
        _ = try session.replies()
        try session.send(Self.plain(Self.email, Self.password))
        #expect(try session.replies().isEmpty, "answered before its delay")

        let readsBefore = session.socket.reads
        session.channel.read()
        #expect(session.socket.reads == readsBefore + 1, "a wait with nothing queued behind it held the read")

        // Held by the framer (after AUTH the next line may be a SASL answer), not the session.
        try session.send("NOOP\r\n")
        #expect(try session.replies().isEmpty)

        session.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try session.codes() == ["454", "250"], "the refusal, then the NOOP sent meanwhile")
        #expect(session.metrics.events == [.loginFailed(.refused)])
    }

    @Test func quitIsAnsweredAndClosesTheConnection() throws {
        let session = try Self.session()
        _ = try session.replies()
        try session.send("QUIT\r\n")
        #expect(try session.codes() == ["221"])
        #expect(!session.channel.isActive)
    }

    @Test func mailBeforeLoginIsRefusedWithoutTouchingAnUpstream() throws {
        let session = try Self.session()
        _ = try session.replies()
        try session.send("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\n")
        #expect(try session.codes().last == "530")
    }
}
