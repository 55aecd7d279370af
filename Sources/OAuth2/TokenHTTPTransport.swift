/// The HTTP exchange, abstracted so tests can script responses without sockets.
public protocol TokenHTTPTransport: Sendable {
    /// POST application/x-www-form-urlencoded `body` to `url`; returns status and body bytes.
    /// Throws on transport failure / timeout. Non-2xx statuses are returned, not thrown.
    func postForm(url: String, body: String, timeout: Duration) async throws -> (status: Int, body: [UInt8])

    /// Any other request the grants need (the metadata server's GET, IAM's JSON POST), with the
    /// same contract as `postForm`: bounded in time and size, non-2xx returned, not thrown.
    func send(_ request: TokenHTTPRequest, timeout: Duration) async throws -> (status: Int, body: [UInt8])
}

extension TokenHTTPTransport {
    /// Transports written before `send` existed can still do what `postForm` does; anything else
    /// (only Google workload identity needs it) fails as a transport error.
    public func send(_ request: TokenHTTPRequest, timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
        throw UnsupportedTokenHTTPRequest(method: request.method, url: request.url)
    }
}

/// One HTTP request other than a token form POST.
public struct TokenHTTPRequest: Sendable, Hashable {
    public enum Method: String, Sendable, Hashable {
        case GET
        case POST
    }

    public var method: Method
    public var url: String
    /// In order; names as sent.
    public var headers: [Header]
    public var body: [UInt8]?

    public struct Header: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(method: Method, url: String, headers: [Header] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

extension TokenHTTPRequest: CustomStringConvertible, CustomDebugStringConvertible {
    /// Header values other than a few harmless ones, and the body, may hold tokens: not shown.
    public var description: String {
        let shown = headers.map { header in
            ["content-type", "accept", "metadata-flavor"].contains(header.name.lowercased())
                ? "\(header.name): \(header.value)" : "\(header.name): <redacted>"
        }
        return "TokenHTTPRequest(\(method.rawValue) \(url), headers: [\(shown.joined(separator: ", "))], body: \(body == nil ? "nil" : "<\(body!.count) bytes>"))"
    }

    public var debugDescription: String { description }
}

struct UnsupportedTokenHTTPRequest: Error, CustomStringConvertible {
    var method: TokenHTTPRequest.Method
    var url: String
    var description: String { "this transport cannot send \(method.rawValue) requests other than token forms" }
}
