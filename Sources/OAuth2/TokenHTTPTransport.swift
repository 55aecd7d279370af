/// The HTTP exchange, abstracted so tests can script responses without sockets.
public protocol TokenHTTPTransport: Sendable {
    /// POST application/x-www-form-urlencoded `body` to `url`; returns status and body bytes.
    /// Throws on transport failure / timeout. Non-2xx statuses are returned, not thrown.
    func postForm(url: String, body: String, timeout: Duration) async throws -> (status: Int, body: [UInt8])
}
