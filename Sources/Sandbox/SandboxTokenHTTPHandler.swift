import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Serves the sandbox endpoints (`SandboxHTTPRouter`) on one connection. Requests arrive one at a time (HTTPServerPipelineHandler
/// holds back pipelined ones until each response ends), so a single set of per-request fields suffices.
final class SandboxTokenHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Token requests are a few hundred bytes; anything near this is not a token request.
    static let maxBodyBytes = 64 * 1024
    static let path = "/token"

    private let issuer: SandboxTokenIssuer
    private let logger: Logger
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    /// Set once a response went out before the request ended (413); the rest of the request is dropped.
    private var answeredEarly = false

    init(issuer: SandboxTokenIssuer, logger: Logger) {
        self.issuer = issuer
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
            answeredEarly = false
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > Self.maxBodyBytes {
                answerTooLarge(context: context, head: head)
            }
        case .body(var chunk):
            guard !answeredEarly, let head else { return }
            guard body.readableBytes + chunk.readableBytes <= Self.maxBodyBytes else {
                answerTooLarge(context: context, head: head)
                return
            }
            body.writeBuffer(&chunk)
        case .end:
            defer {
                head = nil
                body.clear()
            }
            guard !answeredEarly, let head else { return }
            let response = SandboxHTTPRouter.route(head, body: Array(body.readableBytesView), issuer: issuer)
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
            // The path only: queries and bodies carry codes, secrets and assertions.
            logger.debug("sandbox request", metadata: ["method": "\(head.method)", "path": "\(path)", "status": "\(response.status)"])
            respond(context: context, head: head, response: response, keepAlive: head.isKeepAlive)
        }
    }

    private func answerTooLarge(context: ChannelHandlerContext, head: HTTPRequestHead) {
        answeredEarly = true
        // Reading on just to discard could take long; closing is what real servers do here too.
        respond(context: context, head: head,
                response: .outcome(.error(status: 413, code: "invalid_request", description: "Request body over \(Self.maxBodyBytes) bytes.")),
                keepAlive: false)
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, response: SandboxHTTPResponse, keepAlive: Bool) {
        var headers = HTTPHeaders()
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        headers.add(name: "content-length", value: "\(response.body.count)")
        if !keepAlive {
            headers.add(name: "connection", value: "close")
        } else if head.version.major == 1, head.version.minor == 0 {
            headers.add(name: "connection", value: "keep-alive")
        }
        let responseHead = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        }
    }
}
