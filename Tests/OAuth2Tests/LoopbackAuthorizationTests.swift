import Foundation
import Testing
@testable import OAuth2

@Suite struct LoopbackAuthorizationTests {
    static let clientSecret = "GOCSPX-client-SECRET-value"
    static let rfcVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    static func authorization(authorizeURL: String = "https://accounts.example.com/o/oauth2/v2/auth") -> LoopbackAuthorization {
        LoopbackAuthorization(
            configuration: .init(authorizeURL: authorizeURL, tokenURL: "https://oauth2.example.com/token",
                                 clientID: "123.apps.googleusercontent.com", clientSecret: clientSecret,
                                 scope: "https://mail.google.com/", loginHint: "ops+mail@acme.com",
                                 redirectURI: LoopbackAuthorization.redirectURI(port: 8400)),
            pkce: PKCE(verifier: rfcVerifier)!, state: "state-0123456789abcdef")
    }

    static func query(_ url: String) -> [String: String] {
        var out: [String: String] = [:]
        for item in URLComponents(string: url)?.queryItems ?? [] { out[item.name] = item.value }
        return out
    }

    @Test func theAuthorizationURLCarriesPKCEStateOfflineAccessAndTheHint() throws {
        let url = Self.authorization().authorizationURL
        #expect(url.hasPrefix("https://accounts.example.com/o/oauth2/v2/auth?"))
        #expect(Self.query(url) == [
            "response_type": "code",
            "client_id": "123.apps.googleusercontent.com",
            "redirect_uri": "http://127.0.0.1:8400/callback",
            "scope": "https://mail.google.com/",
            "state": "state-0123456789abcdef",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "access_type": "offline",
            "prompt": "consent",
            "login_hint": "ops+mail@acme.com",
        ])
        // `+` in the hint must be escaped, or the server reads a space.
        #expect(url.contains("login_hint=ops%2Bmail%40acme.com"))
        #expect(!url.contains(Self.rfcVerifier))
        #expect(!url.contains(Self.clientSecret))
        let withQuery = Self.authorization(authorizeURL: "https://sovereign.example/auth?tenant=x").authorizationURL
        #expect(withQuery.hasPrefix("https://sovereign.example/auth?tenant=x&response_type=code&"))
    }

    @Test func freshRunsHaveFreshStatesAndVerifiers() {
        let a = LoopbackAuthorization(configuration: Self.authorization().configuration)
        let b = LoopbackAuthorization(configuration: Self.authorization().configuration)
        #expect(a.state != b.state)
        #expect(a.pkce.verifier != b.pkce.verifier)
        #expect(a.state.utf8.count >= 22)
    }

    static let outcomes: [(String, LoopbackAuthorization.RedirectOutcome)] = [
        ("/callback?state=state-0123456789abcdef&code=4%2F0AQlEd8x-code", .code("4/0AQlEd8x-code")),
        ("/callback?code=c&state=state-0123456789abcdef&scope=https%3A%2F%2Fmail.google.com%2F", .code("c")),
        ("/callback?code=c&state=state-0123456789abcdeF", .stateMismatch),
        ("/callback?code=c&state=state-0123456789abcdef-and-more", .stateMismatch),
        ("/callback?code=c", .stateMismatch),
        ("/callback?code=c&state=state-0123456789abcdef&state=evil", .stateMismatch),
        ("/callback?error=access_denied&state=evil", .stateMismatch),
        ("/callback?error=access_denied&state=state-0123456789abcdef", .providerError(.denied(nil))),
        ("/callback?error=invalid_scope&error_description=bad+scope&state=state-0123456789abcdef",
         .providerError(.rejected(code: "invalid_scope", detail: "bad scope"))),
        ("/callback?state=state-0123456789abcdef", .providerError(.malformed("the redirect carried neither a code nor an error"))),
        ("/callback?state=state-0123456789abcdef&code=", .providerError(.malformed("the redirect carried neither a code nor an error"))),
        ("/favicon.ico", .notTheRedirect),
        ("/callbackx?code=c&state=state-0123456789abcdef", .notTheRedirect),
        ("/", .notTheRedirect),
    ]

    @Test(arguments: outcomes)
    func theRedirectIsJudgedByPathAndStateFirst(target: String, expected: LoopbackAuthorization.RedirectOutcome) {
        #expect(Self.authorization().outcome(forTarget: target) == expected)
    }

    @Test func theCodeIsExchangedWithVerifierRedirectURIAndSecret() async throws {
        let transport = ConsentScriptedTransport([DeviceReplies.tokens])
        let tokens = try await Self.authorization().exchange(code: "4/0AQlEd8x-code", transport: transport)
        #expect(tokens.refreshToken == "rt-SECRET-refresh")
        let sent = try #require(transport.sent.first)
        #expect(sent.url == "https://oauth2.example.com/token")
        #expect(sent.fields == [
            "grant_type": "authorization_code",
            "code": "4/0AQlEd8x-code",
            "redirect_uri": "http://127.0.0.1:8400/callback",
            "code_verifier": Self.rfcVerifier,
            "client_id": "123.apps.googleusercontent.com",
            "client_secret": Self.clientSecret,
        ])
    }

    @Test func aRefusedExchangeNamesTheErrorWithoutTheCodeVerifierOrSecret() async {
        let echo = "code 4/0AQlEd8x-code verifier \(Self.rfcVerifier) secret \(Self.clientSecret) bad"
        let transport = ConsentScriptedTransport([DeviceReplies.error("invalid_grant", description: echo)])
        do {
            _ = try await Self.authorization().exchange(code: "4/0AQlEd8x-code", transport: transport)
            Issue.record("expected a failure")
        } catch let failure as ConsentFailure {
            guard case .rejected(let code, _) = failure else {
                Issue.record("expected rejected, got \(failure)")
                return
            }
            #expect(code == "invalid_grant")
            for secret in ["4/0AQlEd8x-code", Self.rfcVerifier, Self.clientSecret] {
                #expect(!failure.description.contains(secret))
            }
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func anExchangeWithoutARefreshTokenOrWithAServerErrorFails() async {
        for (reply, expected) in [
            (ConsentScriptedTransport.Reply.json(200, #"{"access_token":"a","token_type":"Bearer"}"#), ConsentFailure.noRefreshToken),
        ] {
            await #expect(throws: expected) {
                _ = try await Self.authorization().exchange(code: "c", transport: ConsentScriptedTransport([reply]))
            }
        }
        await #expect { _ = try await Self.authorization().exchange(code: "c", transport: ConsentScriptedTransport([.json(503, "busy")])) } throws: { error in
            if case .unavailable? = error as? ConsentFailure { return true }
            return false
        }
    }
}

@Suite struct LoopbackRequestHeadTests {
    func parse(_ text: String) -> LoopbackRequestHead {
        LoopbackRequestHead.parse(Array(text.utf8))
    }

    @Test func readsTheRequestLineOnceTheHeadIsComplete() {
        let head = "GET /callback?code=c&state=s HTTP/1.1\r\nHost: 127.0.0.1:8400\r\nUser-Agent: x\r\n\r\n"
        #expect(parse(head) == .request(method: "GET", target: "/callback?code=c&state=s"))
        #expect(parse("GET / HTTP/1.0\n\n") == .request(method: "GET", target: "/"))
        for cut in [0, 10, head.utf8.count - 1] {
            // Cut by bytes: "\r\n" is one Character, so String.prefix would not cut between them.
            #expect(LoopbackRequestHead.parse(Array(head.utf8.prefix(cut))) == .incomplete, "cut at \(cut)")
        }
    }

    @Test func anEndlessHeadIsCutAtTheLimit() {
        let endless = "GET / HTTP/1.1\r\n" + String(repeating: "X-Filler: yyyyyyyyyyyyyyyyyyyy\r\n", count: 400)
        #expect(endless.utf8.count > LoopbackRequestHead.maxBytes)
        #expect(parse(endless) == .tooLarge)
        #expect(parse("GET /" + String(repeating: "a", count: 5000) + " HTTP/1.1\r\n\r\n") == .tooLarge)
    }

    @Test(arguments: ["GET /\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET / SPDY/3\r\n\r\n", "GET /\u{1}x HTTP/1.1\r\n\r\n",
                      "\r\n\r\n", "GET / HTTP/1.1 extra\r\n\r\n"])
    func malformedRequestLinesAreRefused(head: String) {
        #expect(parse(head) == .malformed)
    }
}
