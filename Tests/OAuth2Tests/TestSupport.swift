import Logging
import NIOConcurrencyHelpers
@testable import OAuth2
import TestSupport

/// One scripted reply of the fake token endpoint.
enum ScriptedReply: Sendable {
    case reply(status: Int, body: String)
    case fail(any Error & Sendable)

    static func token(_ value: String, expiresIn: Int = 3600, refreshToken: String? = nil) -> ScriptedReply {
        var json = #"{"access_token":"\#(value)","expires_in":\#(expiresIn),"token_type":"Bearer""#
        if let refreshToken { json += #","refresh_token":"\#(refreshToken)""# }
        return .reply(status: 200, body: json + "}")
    }

    static func oauthError(_ status: Int, _ code: String, _ description: String? = nil) -> ScriptedReply {
        if let description { return .reply(status: status, body: #"{"error":"\#(code)","error_description":"\#(description)"}"#) }
        return .reply(status: status, body: #"{"error":"\#(code)"}"#)
    }
}

struct ScriptedTransportError: Error, Sendable, CustomStringConvertible {
    var description: String { "connection refused (scripted)" }
}

/// A TokenHTTPTransport that answers from a script, records what was sent and can hold replies
/// back until a test releases them.
final class ScriptedTransport: TokenHTTPTransport {
    struct Sent: Sendable {
        var url: String
        var body: String
        var timeout: Duration
        /// The form fields, decoded, for asserting on single values.
        var fields: [String: String] {
            var out: [String: String] = [:]
            for pair in body.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                out[String(parts[0])] = parts.count > 1 ? String(parts[1]).removingPercentEncoding : ""
            }
            return out
        }
    }

    /// Every request in order, token forms (as POSTs with the form as body) and `send`s alike.
    struct Request: Sendable {
        var request: TokenHTTPRequest
        var timeout: Duration
        var isForm: Bool
        var bodyText: String { String(decoding: request.body ?? [], as: UTF8.self) }
    }

    private struct State {
        var script: [ScriptedReply]
        var fallback: ScriptedReply
        var sent: [Sent] = []
        var requests: [Request] = []
        var held = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state: NIOLockedValueBox<State>

    init(_ script: [ScriptedReply] = [], fallback: ScriptedReply = .token("fallback-token")) {
        state = NIOLockedValueBox(State(script: script, fallback: fallback))
    }

    var sent: [Sent] { state.withLockedValue { $0.sent } }
    var requests: [Request] { state.withLockedValue { $0.requests } }
    var requestCount: Int { state.withLockedValue { $0.sent.count } }

    func enqueue(_ replies: ScriptedReply...) {
        state.withLockedValue { $0.script.append(contentsOf: replies) }
    }

    /// Replies wait until `release()`.
    func hold() {
        state.withLockedValue { $0.held = true }
    }

    func release() {
        let waiting = state.withLockedValue { state in
            state.held = false
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    func postForm(url: String, body: String, timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
        let reply = state.withLockedValue { state in
            state.sent.append(Sent(url: url, body: body, timeout: timeout))
            state.requests.append(Request(request: TokenHTTPRequest(method: .POST, url: url, body: Array(body.utf8)), timeout: timeout, isForm: true))
            return state.script.isEmpty ? state.fallback : state.script.removeFirst()
        }
        return try await answer(reply)
    }

    /// Answers from the same script as `postForm`, in order.
    func send(_ request: TokenHTTPRequest, timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
        let reply = state.withLockedValue { state in
            state.requests.append(Request(request: request, timeout: timeout, isForm: false))
            return state.script.isEmpty ? state.fallback : state.script.removeFirst()
        }
        return try await answer(reply)
    }

    private func answer(_ reply: ScriptedReply) async throws -> (status: Int, body: [UInt8]) {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let mustWait = state.withLockedValue { state in
                if state.held { state.waiting.append(continuation) }
                return state.held
            }
            if !mustWait { continuation.resume() }
        }
        switch reply {
        case .reply(let status, let body): return (status, Array(body.utf8))
        case .fail(let error): throw error
        }
    }
}

/// Collects rendered log lines (message plus all metadata) so tests can grep them for secrets.
final class LogCapture: Sendable {
    private let lines = NIOLockedValueBox([String]())

    var all: [String] { lines.withLockedValue { $0 } }
    var text: String { all.joined(separator: "\n") }

    func append(_ line: String) {
        lines.withLockedValue { $0.append(line) }
    }

    func logger(label: String = "test") -> Logger {
        var logger = Logger(label: label) { [self] label in CapturingLogHandler(capture: self, label: label) }
        logger.logLevel = .trace
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    let label: String
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let error = event.error.map { " error=\($0)" } ?? ""
        capture.append("\(event.level) \(event.message) \(rendered)\(error)")
    }
}

/// A grant whose retries do not sleep and whose jitter is the cap, for deterministic schedules.
func instantGrant(_ transport: ScriptedTransport, clock: ManualClock? = nil, maxAttempts: Int = 3,
                  sleeps: NIOLockedValueBox<[Duration]>? = nil) -> RefreshTokenGrant {
    var configuration = RefreshTokenGrant.Configuration()
    configuration.maxAttempts = maxAttempts
    var now: @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    if let clock { now = clock.clock.now }
    let sleep: @Sendable (Duration) async throws -> Void = { duration in
        if let sleeps { sleeps.withLockedValue { $0.append(duration) } }
    }
    return RefreshTokenGrant(transport: transport, configuration: configuration, now: now, sleep: sleep, jitter: { $0 })
}

let sampleCredentials = OAuth2Credentials(
    tokenURL: "https://oauth2.example.com/token",
    clientID: "client-1.apps.example.com",
    clientSecret: "cs-SECRET-value-42",
    refreshToken: "1//rt-SECRET+value/with=chars",
    scope: nil)
