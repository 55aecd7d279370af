import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Serves POST /token on one connection. Requests arrive one at a time (HTTPServerPipelineHandler
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
            let (outcome, extraHeaders) = route(head)
            respond(context: context, head: head, outcome: outcome, extraHeaders: extraHeaders, keepAlive: head.isKeepAlive)
        }
    }

    private func route(_ head: HTTPRequestHead) -> (SandboxTokenOutcome, [(String, String)]) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        guard path == Self.path else {
            return (.error(status: 404, code: "not_found", description: "Only \(Self.path) is served."), [])
        }
        guard head.method == .POST else {
            return (.error(status: 405, code: "invalid_request", description: "Use POST."), [("allow", "POST")])
        }
        let contentType = head.headers.first(name: "content-type")?.lowercased() ?? ""
        guard contentType.hasPrefix("application/x-www-form-urlencoded") else {
            return (.error(status: 400, code: "invalid_request", description: "Expected an application/x-www-form-urlencoded body."), [])
        }
        let form: [String: String]
        do {
            form = try SandboxFormBody.decode(body.readableBytesView)
        } catch {
            return (.error(status: 400, code: "invalid_request", description: "Malformed form body."), [])
        }
        let basic = head.headers.first(name: "authorization").flatMap(Self.basicCredentials)
        let outcome = issuer.answer(form: form, basicAuth: basic)
        logger.debug("sandbox token request", metadata: [
            "grant_type": "\(form["grant_type"] ?? "-")",
            "client_id": "\(basic?.clientID ?? form["client_id"] ?? "-")",
            "status": "\(outcome.status)",
        ])
        return (outcome, [])
    }

    private func answerTooLarge(context: ChannelHandlerContext, head: HTTPRequestHead) {
        answeredEarly = true
        // Reading on just to discard could take long; closing is what real servers do here too.
        respond(context: context, head: head,
                outcome: .error(status: 413, code: "invalid_request", description: "Request body over \(Self.maxBodyBytes) bytes."),
                extraHeaders: [], keepAlive: false)
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, outcome: SandboxTokenOutcome,
                         extraHeaders: [(String, String)], keepAlive: Bool) {
        let json = outcome.jsonBody()
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json; charset=utf-8")
        headers.add(name: "content-length", value: "\(json.count)")
        // RFC 6749 §5.1: token responses must not be cached.
        headers.add(name: "cache-control", value: "no-store")
        headers.add(name: "pragma", value: "no-cache")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !keepAlive {
            headers.add(name: "connection", value: "close")
        } else if head.version.major == 1, head.version.minor == 0 {
            headers.add(name: "connection", value: "keep-alive")
        }
        let responseHead = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: outcome.status), headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: json)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        }
    }

    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))`, per RFC 6749 §2.3.1.
    private static func basicCredentials(_ header: String) -> (clientID: String, clientSecret: String)? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
              let decoded = String(data: data, encoding: .utf8),
              let colon = decoded.firstIndex(of: ":"),
              let id = decoded[..<colon].removingPercentEncoding,
              let secret = decoded[decoded.index(after: colon)...].removingPercentEncoding else { return nil }
        return (id, secret)
    }
}
