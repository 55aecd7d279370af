import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import OAuth2

/// A token endpoint scripted per URL, recording what was sent. Its own type (not the refresh
/// tests' `ScriptedTransport`) so the consent flows' tests do not move when that one does.
final class ConsentScriptedTransport: TokenHTTPTransport {
    enum Reply: Sendable {
        case json(Int, String)
        case fail
    }

    struct Sent: Sendable {
        var url: String
        var body: String
        var fields: [String: String] {
            var out: [String: String] = [:]
            for pair in body.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                out[String(parts[0])] = parts.count > 1 ? String(parts[1]).removingPercentEncoding : ""
            }
            return out
        }
    }

    private let state: NIOLockedValueBox<(script: [Reply], sent: [Sent])>

    init(_ script: [Reply]) {
        state = NIOLockedValueBox((script, []))
    }

    var sent: [Sent] { state.withLockedValue { $0.sent } }

    func postForm(url: String, body: String, timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
        let reply = state.withLockedValue { state -> Reply in
            state.sent.append(Sent(url: url, body: body))
            return state.script.isEmpty ? .json(500, #"{"error":"script_exhausted"}"#) : state.script.removeFirst()
        }
        switch reply {
        case .json(let status, let body): return (status, Array(body.utf8))
        case .fail: throw ConsentTestTransportError()
        }
    }
}

struct ConsentTestTransportError: Error, CustomStringConvertible {
    var description: String { "connection refused (scripted)" }
}

/// Time that passes only when the flow sleeps: the whole 15-minute device flow runs instantly.
final class ConsentTestClock: Sendable {
    private let base = ContinuousClock.now
    private let state = NIOLockedValueBox((offset: Duration.zero, sleeps: [Duration]()))

    var now: @Sendable () -> ContinuousClock.Instant { { [self] in base + state.withLockedValue { $0.offset } } }
    var sleep: @Sendable (Duration) async throws -> Void {
        { [self] duration in state.withLockedValue { $0.offset += duration; $0.sleeps.append(duration) } }
    }
    var sleeps: [Duration] { state.withLockedValue { $0.sleeps } }
    var elapsed: Duration { state.withLockedValue { $0.offset } }
}

enum DeviceReplies {
    static let clientSecret = "cs-SECRET-value-42"
    static let deviceCode = "DAQABAAEAAAD-device-code-SECRET-0123456789"

    static func code(expiresIn: Int = 900, interval: Int = 5, extra: String = "") -> ConsentScriptedTransport.Reply {
        .json(200, """
            {"device_code":"\(deviceCode)","user_code":"FJ8K2LQ9M","verification_uri":"https://microsoft.com/devicelogin",\
            "expires_in":\(expiresIn),"interval":\(interval),\
            "message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code FJ8K2LQ9M to authenticate."\(extra)}
            """)
    }

    static func error(_ code: String, status: Int = 400, description: String? = nil) -> ConsentScriptedTransport.Reply {
        if let description { return .json(status, #"{"error":"\#(code)","error_description":"\#(description)"}"#) }
        return .json(status, #"{"error":"\#(code)"}"#)
    }

    static let pending = error("authorization_pending", description: "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.")
    static let tokens = ConsentScriptedTransport.Reply.json(200, #"{"token_type":"Bearer","access_token":"at-SECRET-access","expires_in":3599,"refresh_token":"rt-SECRET-refresh"}"#)
}

@Suite struct DeviceAuthorizationTests {
    static let configuration = DeviceAuthorization.Configuration(
        deviceURL: "https://login.example.com/organizations/oauth2/v2.0/devicecode",
        tokenURL: "https://login.example.com/organizations/oauth2/v2.0/token",
        clientID: "client-1", clientSecret: nil, scope: "https://outlook.office.com/SMTP.Send offline_access")

    func run(_ script: [ConsentScriptedTransport.Reply], configuration: DeviceAuthorization.Configuration = configuration)
        async -> (Result<ConsentTokens, ConsentFailure>, ConsentScriptedTransport, ConsentTestClock, [DeviceAuthorizationCode]) {
        let transport = ConsentScriptedTransport(script)
        let clock = ConsentTestClock()
        let shown = NIOLockedValueBox([DeviceAuthorizationCode]())
        let flow = DeviceAuthorization(configuration: configuration, transport: transport, now: clock.now, sleep: clock.sleep)
        let result: Result<ConsentTokens, ConsentFailure>
        do {
            result = .success(try await flow.run { code in shown.withLockedValue { $0.append(code) } })
        } catch let failure as ConsentFailure {
            result = .failure(failure)
        } catch {
            Issue.record("unexpected error \(error)")
            result = .failure(.malformed("unexpected"))
        }
        return (result, transport, clock, shown.withLockedValue { $0 })
    }

    @Test func asksForACodeShowsItAndPollsAtTheIntervalUntilApproved() async throws {
        let (result, transport, clock, shown) = await run([DeviceReplies.code(), DeviceReplies.pending, DeviceReplies.pending, DeviceReplies.tokens])
        #expect(try result.get() == ConsentTokens(refreshToken: "rt-SECRET-refresh", accessToken: "at-SECRET-access", expiresIn: .seconds(3599)))
        let code = try #require(shown.first)
        #expect(shown.count == 1)
        #expect(code.userCode == "FJ8K2LQ9M")
        #expect(code.verificationURI == "https://microsoft.com/devicelogin")
        #expect(code.message?.hasPrefix("To sign in, use a web browser") == true)
        #expect(!code.description.contains(DeviceReplies.deviceCode))

        let sent = transport.sent
        #expect(sent.count == 4)
        #expect(sent[0].url == Self.configuration.deviceURL)
        #expect(sent[0].fields == ["client_id": "client-1", "scope": "https://outlook.office.com/SMTP.Send offline_access"])
        for poll in sent.dropFirst() {
            #expect(poll.url == Self.configuration.tokenURL)
            #expect(poll.fields == ["grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": "client-1",
                                    "device_code": DeviceReplies.deviceCode])
        }
        // One interval before each poll, none after the answer.
        #expect(clock.sleeps == [.seconds(5), .seconds(5), .seconds(5)])
    }

    @Test func aClientSecretIsSentWhenGiven() async throws {
        var configuration = Self.configuration
        configuration.clientSecret = DeviceReplies.clientSecret
        let (result, transport, _, _) = await run([DeviceReplies.code(), DeviceReplies.tokens], configuration: configuration)
        _ = try result.get()
        #expect(transport.sent.allSatisfy { $0.fields["client_secret"] == DeviceReplies.clientSecret })
    }

    @Test func slowDownAddsFiveSecondsForThisAndEveryLaterPoll() async throws {
        let (result, _, clock, _) = await run([DeviceReplies.code(interval: 3), DeviceReplies.pending, DeviceReplies.error("slow_down"),
                                               DeviceReplies.pending, DeviceReplies.error("slow_down"), DeviceReplies.pending, DeviceReplies.tokens])
        _ = try result.get()
        #expect(clock.sleeps == [.seconds(3), .seconds(3), .seconds(8), .seconds(8), .seconds(13), .seconds(13)])
    }

    static let terminalErrors: [(String, ConsentFailure)] = [
        ("expired_token", DeviceAuthorizationPoller.expiredFailure),
        ("access_denied", .denied("the user said no")),
        ("authorization_declined", .denied("the user said no")),
        ("invalid_grant", .rejected(code: "invalid_grant", detail: "the user said no")),
        ("invalid_client", .rejected(code: "invalid_client", detail: "the user said no")),
        ("bad_verification_code", .rejected(code: "bad_verification_code", detail: "the user said no")),
    ]

    @Test(arguments: terminalErrors)
    func terminalErrorsEndThePollingAtOnce(error: String, expected: ConsentFailure) async {
        let (result, transport, _, _) = await run([DeviceReplies.code(), DeviceReplies.pending,
                                                   DeviceReplies.error(error, description: "the user said no"), DeviceReplies.pending])
        #expect(result == .failure(expected))
        #expect(transport.sent.count == 3)
    }

    @Test func theWaitIsBoundedByExpiresInWithoutAPollAfterExpiry() async {
        // 12 s to live at 5 s intervals: polls at 5 and 10 s, then the clock reads 15 s and no
        // third poll is sent, however patient the endpoint's "pending" is.
        let (result, transport, clock, _) = await run([DeviceReplies.code(expiresIn: 12), DeviceReplies.pending, DeviceReplies.pending,
                                                       DeviceReplies.pending, DeviceReplies.pending])
        #expect(result == .failure(DeviceAuthorizationPoller.expiredFailure))
        #expect(transport.sent.count == 3)
        #expect(clock.elapsed == .seconds(15))
    }

    @Test func transientFailuresArePolledThroughButNotForever() async throws {
        let (recovered, _, _, _) = await run([DeviceReplies.code(), .fail, .json(503, "busy"), .fail, DeviceReplies.pending, .fail, DeviceReplies.tokens])
        _ = try recovered.get()

        let (result, transport, _, _) = await run([DeviceReplies.code(), .fail, .json(502, "<html>"), .fail, .json(500, "{}"), .fail, DeviceReplies.tokens])
        guard case .failure(.unavailable(let reason)) = result else {
            Issue.record("expected unavailable, got \(result)")
            return
        }
        #expect(reason.contains("5 attempts"))
        #expect(transport.sent.count == 6)
    }

    @Test func tokensWithoutARefreshTokenAreAFailure() async {
        let (result, _, _, _) = await run([DeviceReplies.code(), .json(200, #"{"access_token":"at","token_type":"Bearer","expires_in":3600}"#)])
        #expect(result == .failure(.noRefreshToken))
    }

    @Test func aRefusedDeviceCodeRequestNamesTheErrorAndHidesTheSecret() async throws {
        var configuration = Self.configuration
        configuration.clientSecret = DeviceReplies.clientSecret
        let (result, transport, clock, shown) = await run(
            [DeviceReplies.error("unauthorized_client", description: "AADSTS7000218: client_secret \(DeviceReplies.clientSecret) is not for public clients")],
            configuration: configuration)
        guard case .failure(let failure) = result, case .rejected(let code, let detail) = failure else {
            Issue.record("expected rejected, got \(result)")
            return
        }
        #expect(code == "unauthorized_client")
        #expect(detail?.contains("AADSTS7000218") == true)
        #expect(!failure.description.contains(DeviceReplies.clientSecret))
        #expect(shown.isEmpty)
        #expect(transport.sent.count == 1)
        #expect(clock.sleeps.isEmpty)
    }

    @Test func anUnreachableDeviceEndpointFailsWithoutPolling() async {
        let (result, transport, _, _) = await run([.fail])
        guard case .failure(.unavailable) = result else {
            Issue.record("expected unavailable, got \(result)")
            return
        }
        #expect(transport.sent.count == 1)
    }

    @Test func theDeviceCodeNeverAppearsInFailures() async {
        let echo = DeviceReplies.error("invalid_request", description: "device_code \(DeviceReplies.deviceCode) is unknown")
        let (result, _, _, _) = await run([DeviceReplies.code(), echo])
        guard case .failure(let failure) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(!failure.description.contains(DeviceReplies.deviceCode))
        #expect(failure.description.contains("invalid_request"))
    }

    @Test func cancellationEndsTheWait() async {
        let transport = ConsentScriptedTransport([DeviceReplies.code()] + Array(repeating: DeviceReplies.pending, count: 100))
        let flow = DeviceAuthorization(configuration: Self.configuration, transport: transport,
                                       sleep: { _ in throw CancellationError() })
        await #expect(throws: CancellationError.self) { _ = try await flow.run { _ in } }
        #expect(transport.sent.count == 1)
    }
}

@Suite struct DeviceAuthorizationCodeTests {
    func parse(_ body: String, status: Int = 200) -> Result<DeviceAuthorizationCode, ConsentFailure> {
        DeviceAuthorizationCode.parse(status: status, body: Array(body.utf8), secrets: [])
    }

    @Test func acceptsGoogleSpellingAndNumbersAsStrings() throws {
        let code = try parse(#"{"device_code":"d","user_code":"ABC-DEF","verification_url":"https://www.google.com/device","expires_in":"1800","interval":"7"}"#).get()
        #expect(code.verificationURI == "https://www.google.com/device")
        #expect(code.expiresIn == .seconds(1800))
        #expect(code.interval == .seconds(7))
        #expect(code.message == nil)
    }

    @Test func missingOrSillyTimingsFallBackToSaneValues() throws {
        let code = try parse(#"{"device_code":"d","user_code":"U","verification_uri":"https://v.example","interval":0}"#).get()
        #expect(code.interval == .seconds(5))
        #expect(code.expiresIn == .seconds(900))
        let huge = try parse(#"{"device_code":"d","user_code":"U","verification_uri":"https://v.example","interval":1e300,"expires_in":1e300}"#).get()
        #expect(huge.interval == .seconds(300))
        #expect(huge.expiresIn == .seconds(3600))
    }

    @Test func terminalControlCharactersAreNotPrinted() throws {
        let code = try parse(#"{"device_code":"d","user_code":"U\u001b[2J","verification_uri":"https://v.example/\u0007x","message":"line1\nFAKE: line2\u001b]0;title\u0007"}"#).get()
        for text in [code.userCode, code.verificationURI, code.message ?? ""] {
            #expect(!text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
        }
        #expect(code.message?.contains("FAKE: line2") == true)
    }

    @Test(arguments: [
        #"{"user_code":"U","verification_uri":"https://v.example"}"#,
        #"{"device_code":"d","verification_uri":"https://v.example"}"#,
        #"{"device_code":"d","user_code":"U","verification_uri":"javascript:alert(1)"}"#,
        #"{"device_code":"d","user_code":"U"}"#,
        "not json",
    ])
    func incompleteRepliesAreMalformed(body: String) {
        guard case .failure(.malformed) = parse(body) else {
            Issue.record("expected malformed for \(body)")
            return
        }
    }

    @Test func serverErrorsWithoutAnOAuthErrorAreUnavailable() {
        guard case .failure(.unavailable) = parse("<html>", status: 503) else {
            Issue.record("expected unavailable")
            return
        }
    }
}

@Suite struct DeviceAuthorizationPollerTests {
    let start = ContinuousClock.now

    @Test func pendingKeepsTheIntervalAndSlowDownGrowsItUpToTheCap() {
        var poller = DeviceAuthorizationPoller(interval: .seconds(290), expiresIn: .seconds(3600), startedAt: start)
        #expect(poller.start() == .sleep(.seconds(290)))
        #expect(poller.woke(now: start + .seconds(290)) == .poll)
        #expect(poller.received(.oauthError(code: "authorization_pending", detail: nil)) == .sleep(.seconds(290)))
        #expect(poller.received(.oauthError(code: "slow_down", detail: nil)) == .sleep(.seconds(295)))
        #expect(poller.received(.oauthError(code: "slow_down", detail: nil)) == .sleep(.seconds(300)))
        #expect(poller.received(.oauthError(code: "slow_down", detail: nil)) == .sleep(.seconds(300)))
    }

    @Test func noPollAtOrAfterTheDeadline() {
        let poller = DeviceAuthorizationPoller(interval: .seconds(5), expiresIn: .seconds(10), startedAt: start)
        #expect(poller.woke(now: start + .seconds(9)) == .poll)
        #expect(poller.woke(now: start + .seconds(10)) == .failed(DeviceAuthorizationPoller.expiredFailure))
    }

    @Test func aPendingReplyResetsTheRunOfFailures() {
        var poller = DeviceAuthorizationPoller(interval: .seconds(5), expiresIn: .seconds(900), startedAt: start, maxConsecutiveFailures: 2)
        #expect(poller.transportFailed("refused") == .sleep(.seconds(5)))
        #expect(poller.received(.oauthError(code: "authorization_pending", detail: nil)) == .sleep(.seconds(5)))
        #expect(poller.received(.transient("HTTP 503")) == .sleep(.seconds(5)))
        guard case .failed(.unavailable) = poller.transportFailed("refused") else {
            Issue.record("expected unavailable after two failures in a row")
            return
        }
    }
}
