// The admin HTTP endpoint on any request bytes, in arbitrary reads.
//
// What runs: the pipeline AdminServer.bind builds for each connection
// (configureHTTPServerPipeline(withErrorHandling: true): NIO's HTTP/1 decoder and encoder and
// its 400-on-parse-error handler) in an EmbeddedChannel, then a handler doing per request part
// what AdminExchange does (remember the head, count body bytes, answer at the end with the real
// AdminRouter, one request per connection). AdminExchange itself is not called: it runs in a
// Swift task over NIOAsyncChannel, and a libFuzzer callback is synchronous; waiting for a task
// per input would cost most of the run. The parts it would see are the same.
//
// Properties: every answer is HTTP/1.1 with a status the routing table gives for the decoded
// method and target (405 for any other method, 404 for other paths, the path taken without
// query or fragment); HEAD gets GET's status and length and no body; a request NIO cannot
// parse gets 400 and nothing of ours.
import FuzzSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
@testable import Ops
import Prometheus

struct StubStatus: AdminStatusSource {
    var ready: Bool
    func readiness() -> Readiness { Readiness(ready: ready, reasons: ready ? [] : ["no account has usable \"credentials\"\n"]) }
    func accountsJSON() -> [UInt8] { Array(#"{"accounts":[]}"#.utf8) }
}

let registry: PrometheusCollectorRegistry = {
    let registry = PrometheusCollectorRegistry()
    registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "xoauth2_proxy", metricName: "fuzz", unitName: "total", helpText: "fuzz")).increment()
    return registry
}()

/// What AdminExchange does with the parts of one connection.
final class ExchangeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let router: AdminRouter
    let maxBodyBytes = 64 * 1024
    var request: HTTPRequestHead?
    var bodyBytes = 0
    var refused = false
    var done = false
    /// The decoded request answered, with our response.
    var answered: (head: HTTPRequestHead, response: AdminResponse)?

    init(router: AdminRouter) { self.router = router }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body(let chunk):
            bodyBytes += chunk.readableBytes
            if bodyBytes > maxBodyBytes, !refused {
                refused = true
                write(.text(.payloadTooLarge, "request body too large"), head: false, context: context)
            }
        case .end:
            done = true
            guard let request, !refused else { return }
            let response = router.respond(method: request.method, uri: request.uri)
            answered = (request, response)
            // AdminExchange then returns and the connection closes; here the caller stops
            // feeding bytes and finishes the channel.
            write(response, head: request.method == .HEAD, context: context)
        }
    }

    func write(_ response: AdminResponse, head: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in response.extraHeaders { headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
        if !head, !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let ready = (input.nextControl() ?? 0) & 1 == 0
    let router = AdminRouter(status: StubStatus(ready: ready), metrics: registry)
    let handler = ExchangeHandler(router: router)
    let channel = EmbeddedChannel()
    do {
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    } catch {
        fuzzCheck(false, "pipeline set-up: \(error)")
    }
    var parseFailed = false
    for chunk in input.chunks(of: input.payload) where channel.isActive && !handler.done {
        do {
            try channel.writeInbound(ByteBuffer(bytes: chunk))
        } catch {
            parseFailed = true
            break
        }
    }
    var output: [UInt8] = []
    while let buffer = try? channel.readOutbound(as: ByteBuffer.self) {
        output += buffer.readableBytesView
    }
    _ = try? channel.finish()

    guard !output.isEmpty else {
        fuzzCheck(handler.answered == nil, "answered but nothing written")
        return 0
    }
    fuzzCheck(output.starts(with: Array("HTTP/1.1 ".utf8)) && output.count >= 12, "response starts \(escaped(output.prefix(40)))")
    let status = Int(String(decoding: output[9..<12], as: UTF8.self)) ?? -1
    guard let (head, response) = handler.answered else {
        // NIO's error handler answers a request it cannot parse; a 413 is ours.
        fuzzCheck(status == 400 || (status == 413 && handler.refused), "status \(status) without an answer of ours (parse failed: \(parseFailed))")
        return 0
    }
    fuzzCheck(status == Int(response.status.code), "wrote \(status), router said \(response.status.code)")
    fuzzCheck(Int(response.status.code) == expectedStatus(head, ready: ready),
              "\(head.method) \(escaped(Array(head.uri.utf8))) answered \(response.status.code)")
    // Our response, then possibly NIO's 400 for bytes pipelined after the request that it
    // could not parse (decoded in the same read).
    let headerEnd = output.indices.first { output[$0...].starts(with: Array("\r\n\r\n".utf8)) }
    fuzzCheck(headerEnd != nil, "no end of headers")
    let afterHead = Array(output[(headerEnd! + 4)...])
    let expectedBody = head.method == .HEAD ? [] : response.body
    fuzzCheck(afterHead.starts(with: expectedBody), "\(head.method): body written is not the router's")
    let rest = afterHead.dropFirst(expectedBody.count)
    fuzzCheck(rest.isEmpty || rest.starts(with: Array("HTTP/1.1 400".utf8)), "after the response: \(escaped(rest.prefix(60)))")
    return 0
}

/// The routing table, written out.
func expectedStatus(_ head: HTTPRequestHead, ready: Bool) -> Int {
    guard head.method == .GET || head.method == .HEAD else { return 405 }
    let path = String(head.uri.prefix { $0 != "?" && $0 != "#" })
    switch path {
    case "/healthz", "/health", "/metrics", "/accounts": return 200
    case "/readyz": return ready ? 200 : 503
    default: return 404
    }
}

/// See runLibFuzzer: the entry point a debug build's `main` is linked to.
@_cdecl("FuzzAdminHTTP_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
