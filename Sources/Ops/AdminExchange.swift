import Logging
import NIOCore
import NIOHTTP1

/// One request and its response on one admin connection, which is then closed.
///
/// Runs in a Swift task, not on the event loop, so a slow `AdminStatusSource` or a large
/// metrics emit never stalls other channels.
struct AdminExchange: Sendable {
    let router: AdminRouter
    let maxBodyBytes: Int
    let logger: Logger

    /// Body bytes discarded after a 413 before giving up on a clean close.
    static let drainBytes = 1 << 20

    func serve(_ connection: AdminConnection) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var request: HTTPRequestHead?
                var bodyBytes = 0
                var refused = false
                for try await part in inbound {
                    switch part {
                    case .head(let head):
                        request = head
                    case .body(let chunk):
                        // Bodies are never used; count them only to stop a client streaming forever.
                        bodyBytes += chunk.readableBytes
                        if bodyBytes > maxBodyBytes, !refused {
                            refused = true
                            try await write(.text(.payloadTooLarge, "request body too large"), head: false, to: outbound)
                        }
                        // Closing with unread bytes makes the kernel send a reset that can destroy the
                        // 413 before the client reads it, so a modest rest of the body is read and dropped.
                        if refused, bodyBytes > maxBodyBytes + Self.drainBytes { return }
                    case .end:
                        guard let request, !refused else { return }
                        let response = router.respond(method: request.method, uri: request.uri)
                        try await write(response, head: request.method == .HEAD, to: outbound)
                        return
                    }
                }
            }
        } catch {
            // Malformed requests (answered 400 by NIO's error handler), resets and timeouts land here.
            logger.debug("admin connection ended with error", metadata: ["error": "\(error)"])
        }
    }

    /// Writes the whole response; `head` leaves the body out but keeps its length, as HEAD requires.
    private func write(_ response: AdminResponse, head: Bool,
                       to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in response.extraHeaders { headers.add(name: name, value: value) }
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)))
        if !head, !response.body.isEmpty {
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body))))
        }
        try await outbound.write(.end(nil))
    }
}
