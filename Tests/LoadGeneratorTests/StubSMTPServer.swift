import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore
import SMTPNIO

/// A tiny SMTP server for the loopback tests: EHLO (with or without PIPELINING), AUTH → 235,
/// MAIL/RCPT → 250, DATA → 354, end of data → 250 (or what the test says), QUIT → 221.
/// It records what it saw.
final class StubSMTPServer: Sendable {
    struct Behavior: Sendable {
        var pipelining = true
        var advertiseSize = true
        var authReply = SMTPReply(235, "2.7.0", "Authentication successful")
        var endOfDataReply = SMTPReply(250, "2.0.0", "OK queued")
        /// Close the connection instead of answering the Nth end of data on each connection.
        var dropAtMessage: Int? = nil
        /// Never answer the end of data.
        var silentEndOfData = false
        /// Think this long before answering the end of data.
        var endOfDataDelay: Duration? = nil
        /// Answer every MAIL with 421 and close the connection.
        var closeAtMail = false
        /// Offer STARTTLS with this context and refuse AUTH before it.
        var tls: NIOSSLContext? = nil
    }

    struct SessionSender: Hashable {
        var auth: String?
        var mail: String
    }

    /// What the server saw, across connections.
    final class Record: @unchecked Sendable {
        private let lock = NSLock()
        private var _connections = 0
        private var _quits = 0
        private var _tlsSessions = 0
        private var _messages = 0
        private var _maxMessagesPerConnection = 0
        private var _maxCommandBatch = 0
        private var _authLines: [String] = []
        private var _mailLines: Set<String> = []
        private var _sessionSenders: Set<SessionSender> = []
        private var _recipients = 0
        private var _firstWire: ByteBuffer?
        private var _differentBodies = 0

        private func locked<T>(_ body: () -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body()
        }

        var connections: Int { locked { _connections } }
        var quits: Int { locked { _quits } }
        var tlsSessions: Int { locked { _tlsSessions } }
        var messages: Int { locked { _messages } }
        var maxMessagesPerConnection: Int { locked { _maxMessagesPerConnection } }
        var maxCommandBatch: Int { locked { _maxCommandBatch } }
        var authLines: [String] { locked { _authLines } }
        var mailLines: Set<String> { locked { _mailLines } }
        /// Each MAIL line with the AUTH line of the same connection before it.
        var sessionSenders: Set<SessionSender> { locked { _sessionSenders } }
        var recipients: Int { locked { _recipients } }
        /// The first message as the recipient sees it (unstuffed).
        var firstBody: [UInt8]? { locked { _firstWire.map { DotStuffing.unstuff($0.readableBytesView) } } }
        var differentBodies: Int { locked { _differentBodies } }

        func connected() { locked { _connections += 1 } }
        func quit() { locked { _quits += 1 } }
        func startedTLS() { locked { _tlsSessions += 1 } }
        func batch(commands: Int) { locked { _maxCommandBatch = max(_maxCommandBatch, commands) } }
        func auth(_ line: String) { locked { _authLines.append(line) } }
        func mail(_ line: String, afterAuth auth: String?) {
            locked {
                _mailLines.insert(line)
                _sessionSenders.insert(SessionSender(auth: auth, mail: line))
            }
        }
        func recipient() { locked { _recipients += 1 } }

        func message(wire: ByteBuffer, onConnection: Int) {
            locked {
                _messages += 1
                _maxMessagesPerConnection = max(_maxMessagesPerConnection, onConnection)
                if let first = _firstWire {
                    // Compared as bytes (memcmp): the debug-built stub must not be the bottleneck.
                    let same = first.withUnsafeReadableBytes { a in
                        wire.withUnsafeReadableBytes { b in a.count == b.count && memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
                    }
                    if !same { _differentBodies += 1 }
                } else {
                    _firstWire = wire
                }
            }
        }
    }

    let seen: Record
    private let listener: SMTPListener
    private let task: Task<Void, Never>

    var port: Int { listener.port }

    static func start(_ behavior: Behavior = Behavior(), group: any EventLoopGroup) async throws -> StubSMTPServer {
        var configuration = SMTPListener.Configuration(host: "127.0.0.1", port: 0, idleTimeout: .seconds(30))
        if let tls = behavior.tls {
            configuration.startTLS = { context in
                try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
            }
        }
        let listener = try await SMTPListener.bind(configuration, group: group)
        let record = Record()
        let task = Task<Void, Never> {
            do {
                try await listener.run { connection in
                    await serve(connection, behavior: behavior, record: record)
                }
            } catch {}
        }
        return StubSMTPServer(listener: listener, task: task, record: record)
    }

    private init(listener: SMTPListener, task: Task<Void, Never>, record: Record) {
        self.listener = listener
        self.task = task
        self.seen = record
    }

    func stop() async {
        await listener.close()
        task.cancel()
        await task.value
    }

    private static func serve(_ connection: SMTPServerConnection, behavior: Behavior, record: Record) async {
        record.connected()
        try? await connection.executeThenClose { inbound, outbound in
            try await outbound.write(SMTPReply(220, "2.0.0", "stub ready"))
            var body = ByteBuffer()
            var onConnection = 0
            var secure = behavior.tls == nil
            var authLine: String?
            for try await frames in inbound {
                var replies: [SMTPReply] = []
                var commands = 0
                for frame in frames {
                    switch frame {
                    case .command(let line):
                        commands += 1
                        switch SMTPCommandParser.parse(line.readableBytesView) {
                        case .success(.ehlo):
                            var lines = ["stub.localhost greets you"]
                            if behavior.pipelining { lines.append("PIPELINING") }
                            if behavior.advertiseSize { lines.append("SIZE 36700160") }
                            lines.append(secure ? "AUTH PLAIN XOAUTH2" : "STARTTLS")
                            replies.append(SMTPReply(code: 250, lines: lines))
                        case .success(.starttls) where !secure:
                            secure = true
                            record.startedTLS()
                            replies.append(SMTPReply(220, "2.0.0", "Ready to start TLS"))
                        case .success(.auth) where !secure:
                            replies.append(SMTPReply(530, "5.7.0", "Must issue a STARTTLS command first"))
                        case .success(.auth):
                            authLine = String(buffer: line)
                            record.auth(String(buffer: line))
                            replies.append(behavior.authReply)
                        case .success(.mail) where behavior.closeAtMail:
                            try await outbound.write(contentsOf: replies + [SMTPReply(421, "4.3.2", "Shutting down")])
                            return
                        case .success(.mail):
                            record.mail(String(buffer: line), afterAuth: authLine)
                            replies.append(SMTPReply(250, "2.1.0", "OK"))
                        case .success(.rcpt):
                            record.recipient()
                            replies.append(SMTPReply(250, "2.1.5", "OK"))
                        case .success(.data):
                            replies.append(SMTPReply(code: 354, lines: ["Go ahead"]))
                        case .success(.rset), .success(.noop):
                            replies.append(SMTPReply(250, "2.0.0", "OK"))
                        case .success(.quit):
                            record.quit()
                            try await outbound.write(contentsOf: replies + [SMTPReply(221, "2.0.0", "bye")])
                            return
                        case .success:
                            replies.append(SMTPReply(502, "5.5.1", "Not implemented"))
                        case .failure(let error):
                            replies.append(error.reply)
                        }
                    case .authResponse:
                        replies.append(behavior.authReply)
                    case .commandTooLong:
                        replies.append(SMTPReply(500, "5.5.2", "Line too long"))
                    case .data(var chunk), .dataAfterBareLineEnding(var chunk):
                        body.writeBuffer(&chunk)
                    case .endOfData:
                        onConnection += 1
                        record.message(wire: body, onConnection: onConnection)
                        body.clear()
                        if let drop = behavior.dropAtMessage, onConnection >= drop { return }
                        if behavior.silentEndOfData { continue }
                        if let delay = behavior.endOfDataDelay { try await Task.sleep(for: delay) }
                        replies.append(behavior.endOfDataReply)
                    }
                }
                record.batch(commands: commands)
                if !replies.isEmpty { try await outbound.write(contentsOf: replies) }
            }
        }
    }
}
