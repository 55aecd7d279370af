import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A fake provider with a loose DATA parser: besides CR LF . CR LF it ends a message on any of
/// `terminators` (LF . CR LF and the like, as lenient MTAs do) and reads what follows as
/// commands. Plaintext, no pipelining, any XOAUTH2 accepted: it exists to show what a proxy
/// forwards, not to check credentials.
final class LooseProvider: Sendable {
    struct Message: Sendable, Hashable {
        var recipients: [String]
        var body: String
    }

    struct Record: Sendable {
        var messages: [Message] = []
        var connections = 0
        /// Connections that ended while inside DATA: the proxy dropped a message half-sent.
        var closedInData = 0
        /// Every byte received, in order, across connections.
        var received: [UInt8] = []
    }

    let record: NIOLockedValueBox<Record>
    private let channel: any Channel

    var port: Int { channel.localAddress?.port ?? 0 }
    var messages: [Message] { record.withLockedValue { $0.messages } }

    private init(channel: any Channel, record: NIOLockedValueBox<Record>) {
        self.channel = channel
        self.record = record
    }

    static func start(terminators: [String]) async throws -> LooseProvider {
        let record = NIOLockedValueBox(Record())
        let ends = ([["\r\n.\r\n"], terminators].flatMap { $0 }).map { Array($0.utf8) }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LooseProviderHandler(terminators: ends, record: record))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LooseProvider(channel: channel, record: record)
    }

    func close() async {
        try? await channel.close()
    }
}

private final class LooseProviderHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let terminators: [[UInt8]]
    private let record: NIOLockedValueBox<LooseProvider.Record>
    private var pending: [UInt8] = []
    private var inData = false
    private var recipients: [String] = []

    init(terminators: [[UInt8]], record: NIOLockedValueBox<LooseProvider.Record>) {
        self.terminators = terminators
        self.record = record
    }

    func channelActive(context: ChannelHandlerContext) {
        record.withLockedValue { $0.connections += 1 }
        send("220 loose.example ESMTP", context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if inData { record.withLockedValue { $0.closedInData += 1 } }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Array(unwrapInboundIn(data).readableBytesView)
        record.withLockedValue { $0.received += bytes }
        pending += bytes
        process(context: context)
    }

    private func process(context: ChannelHandlerContext) {
        while true {
            if inData {
                // The body starts right after the DATA line's CR LF, which a terminator may reuse.
                let searched = [13, 10] + pending
                guard let (start, end) = earliestTerminator(in: searched) else { return }
                let body = Array(searched[2..<max(2, start)])
                pending = Array(searched[end...])
                inData = false
                record.withLockedValue {
                    $0.messages.append(.init(recipients: recipients, body: String(decoding: body, as: UTF8.self)))
                }
                recipients = []
                send("250 2.0.0 queued", context: context)
                continue
            }
            guard let lineEnd = pending.firstIndex(of: 10) else { return }
            let line = String(decoding: pending[..<lineEnd], as: UTF8.self).trimmingSuffix("\r")
            pending.removeFirst(lineEnd + 1)
            let verb = line.prefix(while: { $0 != " " && $0 != ":" }).uppercased()
            switch verb {
            case "EHLO": send("250-loose.example\r\n250-8BITMIME\r\n250 AUTH XOAUTH2", context: context)
            case "AUTH": send("235 2.7.0 Accepted", context: context)
            case "MAIL", "RSET": recipients = []; send("250 2.1.0 OK", context: context)
            case "RCPT":
                recipients.append(String(line.drop(while: { $0 != "<" }).dropFirst().prefix(while: { $0 != ">" })))
                send("250 2.1.5 OK", context: context)
            case "DATA":
                inData = true
                send("354 Go ahead", context: context)
            case "NOOP": send("250 2.0.0 OK", context: context)
            case "QUIT":
                send("221 2.0.0 Bye", context: context)
                context.close(promise: nil)
                return
            default: send("500 5.5.2 What?", context: context)
            }
        }
    }

    private func earliestTerminator(in bytes: [UInt8]) -> (Int, Int)? {
        var best: (Int, Int)?
        for terminator in terminators {
            guard let start = bytes.firstRange(of: terminator)?.lowerBound else { continue }
            if best == nil || start < best!.0 { best = (start, start + terminator.count) }
        }
        return best
    }

    private func send(_ text: String, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n")), promise: nil)
    }
}

private extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
