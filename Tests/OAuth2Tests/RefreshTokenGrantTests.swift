import NIOConcurrencyHelpers
import Testing
@testable import OAuth2
import TestSupport

@Suite struct RefreshTokenGrantTests {
    @Test func sendsTheRefreshGrantAndComputesExpiryFromSendTime() async throws {
        let clock = ManualClock()
        let transport = ScriptedTransport([.token("at-1", expiresIn: 3599)])
        let grant = instantGrant(transport, clock: clock)
        let start = clock.now
        let (token, newRefreshToken) = try await grant.fetch(sampleCredentials)
        #expect(token == AccessToken(value: "at-1", expiresAt: start + .seconds(3599)))
        #expect(newRefreshToken == nil)
        let sent = try #require(transport.sent.first)
        #expect(sent.url == sampleCredentials.tokenURL)
        #expect(sent.timeout == .seconds(30))
        #expect(sent.fields == ["client_id": "client-1.apps.example.com", "client_secret": "cs-SECRET-value-42",
                                "refresh_token": "1//rt-SECRET+value/with=chars", "grant_type": "refresh_token"])
    }

    @Test func backoffScheduleDoublesUpToTheCap() {
        let caps = (1...6).map { RetryBackoff.cap(afterAttempt: $0, initial: .milliseconds(200), maximum: .seconds(5)) }
        #expect(caps == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600), .milliseconds(3200), .seconds(5)])
        #expect(RetryBackoff.cap(afterAttempt: 1000, initial: .seconds(1), maximum: .seconds(3)) == .seconds(3))
    }

    @Test func fullJitterStaysWithinTheCap() {
        let samples = (0..<500).map { _ in RetryBackoff.fullJitter(.milliseconds(400)) }
        #expect(samples.allSatisfy { $0 >= .zero && $0 <= .milliseconds(400) })
        // Full jitter, not "cap plus a little": the samples must spread over the range.
        #expect(samples.contains { $0 < .milliseconds(200) } && samples.contains { $0 > .milliseconds(200) })
        #expect(RetryBackoff.fullJitter(.zero) == .zero)
    }

    @Test func retriesServerErrorsWithInjectedSleepsThenSucceeds() async throws {
        let transport = ScriptedTransport([.reply(status: 503, body: "busy"), .fail(ScriptedTransportError()), .token("at-ok")])
        let sleeps = NIOLockedValueBox([Duration]())
        let grant = instantGrant(transport, sleeps: sleeps)
        let (token, _) = try await grant.fetch(sampleCredentials)
        #expect(token.value == "at-ok")
        #expect(transport.requestCount == 3)
        #expect(sleeps.withLockedValue { $0 } == [.milliseconds(200), .milliseconds(400)])
    }

    @Test func givesUpAfterMaxAttemptsAsUnavailable() async throws {
        let transport = ScriptedTransport(fallback: .reply(status: 500, body: #"{"error":"server_error"}"#))
        let sleeps = NIOLockedValueBox([Duration]())
        var configuration = RefreshTokenGrant.Configuration()
        configuration.maxAttempts = 5
        configuration.initialBackoff = .seconds(1)
        configuration.maxBackoff = .seconds(3)
        let grant = RefreshTokenGrant(transport: transport, configuration: configuration,
                                      sleep: { d in sleeps.withLockedValue { $0.append(d) } }, jitter: { $0 })
        let error = await #expect(throws: TokenError.self) { try await grant.fetch(sampleCredentials) }
        guard case .unavailable(let detail)? = error else {
            Issue.record("expected unavailable, got \(String(describing: error))")
            return
        }
        #expect(detail.contains("HTTP 500"))
        #expect(detail.contains("5 attempts"))
        #expect(transport.requestCount == 5)
        #expect(sleeps.withLockedValue { $0 } == [.seconds(1), .seconds(2), .seconds(3), .seconds(3)])
    }

    @Test func invalidGrantIsNotRetried() async throws {
        let transport = ScriptedTransport([.oauthError(400, "invalid_grant", "Token has been expired or revoked.")])
        let sleeps = NIOLockedValueBox([Duration]())
        let grant = instantGrant(transport, sleeps: sleeps)
        await #expect(throws: TokenError.credentialsRejected("invalid_grant: Token has been expired or revoked.")) {
            try await grant.fetch(sampleCredentials)
        }
        #expect(transport.requestCount == 1)
        #expect(sleeps.withLockedValue { $0 }.isEmpty)
    }

    @Test func otherClientErrorsAreUnavailableWithoutRetry() async throws {
        let transport = ScriptedTransport([.oauthError(400, "invalid_scope", "Bad scope.")])
        let grant = instantGrant(transport)
        await #expect(throws: TokenError.unavailable("oauth2.example.com answered HTTP 400 invalid_scope: Bad scope.")) {
            try await grant.fetch(sampleCredentials)
        }
        #expect(transport.requestCount == 1)
    }

    @Test func invalidTokenURLFailsWithoutHTTP() async throws {
        let transport = ScriptedTransport()
        var credentials = sampleCredentials
        credentials.tokenURL = "ftp://example.com/token"
        await #expect(throws: TokenError.self) { try await instantGrant(transport).fetch(credentials) }
        #expect(transport.requestCount == 0)
    }

    @Test func secretsNeverReachLogsOrErrors() async throws {
        let capture = LogCapture()
        let accessToken = "ya29.a0AfB_byC-ACCESS-SECRET-token-0123456789"
        let transport = ScriptedTransport([
            .reply(status: 500, body: #"{"error":"server_error","error_description":"echo \#(sampleCredentials.refreshToken) \#(accessToken)"}"#),
            .fail(EchoingError(text: "refused sending \(sampleCredentials.clientSecret ?? "")")),
            .reply(status: 200, body: #"{"access_token":"\#(accessToken)","token_type":"weird"}"#),
        ])
        let grant = instantGrant(transport)
        let error = await #expect(throws: TokenError.self) {
            try await grant.fetch(sampleCredentials, logger: capture.logger())
        }
        let rejection = ScriptedTransport([
            .oauthError(400, "invalid_grant", "refresh token \(sampleCredentials.refreshToken) is revoked; client secret \(sampleCredentials.clientSecret ?? "")"),
        ])
        let rejected = await #expect(throws: TokenError.self) {
            try await instantGrant(rejection).fetch(sampleCredentials, logger: capture.logger())
        }
        let everything = capture.text + "\n\(String(describing: error))\n\(String(describing: rejected))"
        #expect(capture.all.count >= 4)
        #expect(capture.text.contains("http_status=500"))
        #expect(capture.text.contains("oauth_error=invalid_grant"))
        #expect(capture.text.contains("token_host=oauth2.example.com"))
        for secret in [sampleCredentials.refreshToken, sampleCredentials.clientSecret ?? "?", accessToken, "SECRET"] {
            #expect(!everything.contains(secret), "found \(secret) in:\n\(everything)")
        }
    }
}

/// A transport error whose description repeats what was sent, as some libraries' errors do.
struct EchoingError: Error, Sendable, CustomStringConvertible {
    var text: String
    var description: String { text }
}

/// A token endpoint that echoes the request it refused: the form-encoded secrets in its
/// error_description, once near the start and once across the point where the description is
/// cut, plus lower-case and JSON-escaped copies. Nothing of them reaches the log or the error.
@Suite struct EchoedSecretTests {
    static let secrets = [sampleCredentials.clientSecret!, sampleCredentials.refreshToken]

    /// Every 10-character piece of every form a secret may take (`echoedForms` is checked
    /// against hand-written forms in the test below): a secret cut in two by the
    /// truncation must not survive as its first half either.
    static func leakedPiece(in text: String) -> String? {
        for secret in secrets {
            for form in ReplyText.echoedForms(of: secret) {
                let characters = Array(form)
                guard characters.count >= 10 else { continue }
                for start in 0...(characters.count - 10) {
                    let piece = String(characters[start..<(start + 10)])
                    if text.contains(piece) { return piece }
                }
            }
        }
        return nil
    }

    @Test func anEndpointEchoingTheRequestLeaksNoFormOfASecret() async throws {
        let sent = FormURLEncoding.encode(sampleCredentials.refreshGrantFields)
        // JSON-escaped as the endpoint echoes it: `\\/` on the wire, `\/` once parsed.
        let escaped = sampleCredentials.refreshToken.replacingOccurrences(of: "/", with: #"\\/"#)
        let escapedOnceParsed = sampleCredentials.refreshToken.replacingOccurrences(of: "/", with: #"\/"#)
        // Percent escapes in lower case, as some servers write them: 1%2f%2frt-SECRET%2bvalue…
        let lower = FormURLEncoding.percentEncode(sampleCredentials.refreshToken)
            .replacingOccurrences(of: "%2F", with: "%2f").replacingOccurrences(of: "%2B", with: "%2b")
            .replacingOccurrences(of: "%3D", with: "%3d")
        let padding = String(repeating: "p ", count: 85)
        let description = "echo: \(sent) json: \(escaped) lower: \(lower) \(padding)\(sent)"
        let body = #"{"error":"invalid_request","error_description":""# + description
            + #"","trace_id":"0b7c3f2e-1a2b-4c3d-8e9f-0123456789ab","correlation_id":"not a uuid \#(sent)"}"#
        let transport = ScriptedTransport([.reply(status: 400, body: body)])
        let capture = LogCapture()
        let error = await #expect(throws: TokenError.self) {
            try await instantGrant(transport).fetch(sampleCredentials, logger: capture.logger())
        }
        let logged = capture.text
        #expect(Self.leakedPiece(in: logged) == nil, "\(logged)")
        #expect(Self.leakedPiece(in: String(describing: error)) == nil, "\(String(describing: error))")
        #expect(logged.contains("[redacted]"))
        #expect(ReplyText.echoedForms(of: sampleCredentials.refreshToken).contains(lower))
        #expect(ReplyText.echoedForms(of: sampleCredentials.refreshToken).contains(escapedOnceParsed))
        #expect(logged.contains("trace_id=0b7c3f2e-1a2b-4c3d-8e9f-0123456789ab"))
        #expect(!logged.contains("correlation_id"), "a correlation id that is no UUID is dropped")
    }
}
