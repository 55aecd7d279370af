import Foundation
import NIOCore
import NIOPosix
import TestSupport

/// A deliberately dumb HTTP client: writes bytes as given, reads until the server closes.
/// It checks the server's own framing and limits without a second HTTP implementation in between.
enum RawHTTPClient {
    struct Reply {
        var status: Int
        /// Lower-cased names.
        var headers: [String: String]
        var body: String
    }

    enum Failure: Error { case timedOut, malformed(String) }

    /// Everything the server sent before closing; throws on reset, or `Failure.timedOut` after
    /// `timeout` (a guard against a hang: a server that answers never comes near it).
    static func exchange(port: Int, send request: [UInt8], timeout: Duration = TestDeadline.generous) async throws -> [UInt8] {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        do {
            return try await withDeadline(timeout) {
                try await channel.executeThenClose { inbound, outbound in
                    if !request.isEmpty { try await outbound.write(ByteBuffer(bytes: request)) }
                    var received: [UInt8] = []
                    for try await chunk in inbound { received += chunk.readableBytesView }
                    return received
                }
            }
        } catch is DeadlineExceeded {
            throw Failure.timedOut
        }
    }

    /// A connection that sends nothing and stays open until the caller closes it: holds a slot.
    static func hold(port: Int) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
    }

    static func get(_ path: String, method: String = "GET", port: Int, body: String = "") async throws -> Reply {
        let length = body.isEmpty ? "" : "Content-Length: \(body.utf8.count)\r\n"
        let request = "\(method) \(path) HTTP/1.1\r\nHost: x\r\n\(length)\r\n\(body)"
        return try parse(await exchange(port: port, send: Array(request.utf8)))
    }

    static func parse(_ bytes: [UInt8]) throws -> Reply {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw Failure.malformed(text) }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw Failure.malformed(text) }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Reply(status: status, headers: headers, body: String(text[split.upperBound...]))
    }
}
