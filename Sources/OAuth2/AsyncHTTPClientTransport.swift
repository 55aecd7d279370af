import AsyncHTTPClient
import NIOCore
import Resilience

/// The production transport: one shared `HTTPClient` (its connection pool keeps connections to
/// each token host alive across refreshes of many accounts).
public struct AsyncHTTPClientTransport: TokenHTTPTransport {
    /// Token replies are a few hundred bytes; the cap only stops a broken or hostile server from
    /// making us buffer without bound.
    public static let defaultMaxResponseBytes = 1 << 20

    private let client: HTTPClient
    private let maxResponseBytes: Int

    public init(client: HTTPClient) {
        self.init(client: client, maxResponseBytes: Self.defaultMaxResponseBytes)
    }

    public init(client: HTTPClient, maxResponseBytes: Int) {
        self.client = client
        self.maxResponseBytes = maxResponseBytes
    }

    public func postForm(url: String, body: String, timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        return try await execute(request, timeout: timeout)
    }

    public func send(_ request: TokenHTTPRequest, timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
        var httpRequest = HTTPClientRequest(url: request.url)
        httpRequest.method = request.method == .GET ? .GET : .POST
        for header in request.headers {
            httpRequest.headers.add(name: header.name, value: header.value)
        }
        if let body = request.body {
            httpRequest.body = .bytes(ByteBuffer(bytes: body))
        }
        return try await execute(httpRequest, timeout: timeout)
    }

    private func execute(_ request: HTTPClientRequest, timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
        let client = self.client
        let maxResponseBytes = self.maxResponseBytes
        // The deadline bounds the whole exchange including the body: a server that sends headers and
        // then trickles the body must not hold a refresh (and every caller waiting on it) forever.
        let deadline = NIODeadline.now() + .nanoseconds(timeout.nanosecondsClamped)
        return try await withThrowingTaskGroup(of: (status: Int, body: [UInt8]).self) { group in
            group.addTask { [request] in
                let response = try await client.execute(request, deadline: deadline)
                let bytes = try await response.body.collect(upTo: maxResponseBytes)
                return (Int(response.status.code), Array(bytes.readableBytesView))
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TokenRequestTimeout(timeout: timeout)
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw TokenRequestTimeout(timeout: timeout) }
            return first
        }
    }
}

/// The whole exchange took longer than the configured request timeout.
struct TokenRequestTimeout: Error, CustomStringConvertible {
    var timeout: Duration
    var description: String { "no complete reply within \(timeout)" }
}
