import Crypto
import Foundation
@testable import Sandbox
import Testing

/// Google's loopback flow: GET /authorize with PKCE (S256), then the authorization_code grant.
@Suite struct AuthorizationCodeTests {
    static let clientID = "123-desktop.apps.googleusercontent.com"
    static let secret = "GOCSPX-desktop"
    static let redirect = "http://127.0.0.1:8400/"
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk0123456789"

    static var challenge: String { TestJWT.base64URL(Data(SHA256.hash(data: Array(verifier.utf8)))) }

    private struct Flow {
        let issuer: SandboxTokenIssuer
        let clock = TestClock()

        init(approval: SandboxBrowserApproval = .approve(defaultMailbox: "default@acme.com")) {
            issuer = SandboxTokenIssuer(now: clock.now)
            issuer.registerInteractiveClient(clientID: AuthorizationCodeTests.clientID, clientSecret: AuthorizationCodeTests.secret)
            issuer.browserApproval = approval
        }

        func authorize(_ overrides: [String: String?] = [:]) -> SandboxHTTPResponse {
            var fields: [String: String?] = [
                "response_type": "code", "client_id": AuthorizationCodeTests.clientID, "redirect_uri": AuthorizationCodeTests.redirect,
                "scope": "https://mail.google.com/", "state": "st-42", "code_challenge": AuthorizationCodeTests.challenge,
                "code_challenge_method": "S256", "login_hint": "ops@acme.com",
            ]
            fields.merge(overrides) { $1 }
            let query = formBody(fields.compactMap { key, value in value.map { (key, $0) } }.sorted { $0.0 < $1.0 })
            return SandboxHTTPRouter.route(method: "GET", uri: "/authorize?" + query, issuer: issuer)
        }

        /// The redirect's query fields.
        func redirected(_ response: SandboxHTTPResponse) throws -> [String: String] {
            #expect(response.status == 302)
            let location = try #require(response.header("location"))
            #expect(location.hasPrefix(AuthorizationCodeTests.redirect + "?"))
            let items = URLComponents(string: location)?.queryItems ?? []
            return Dictionary(uniqueKeysWithValues: items.map { ($0.name, $0.value ?? "") })
        }

        func exchange(code: String, verifier: String = AuthorizationCodeTests.verifier, redirect: String = AuthorizationCodeTests.redirect)
            -> SandboxTokenOutcome {
            issuer.answer(form: ["grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier,
                                 "client_id": AuthorizationCodeTests.clientID, "client_secret": AuthorizationCodeTests.secret], basicAuth: nil)
        }
    }

    @Test func approvedWithTheLoginHintThenExchangedForARefreshTokenThatWorks() throws {
        let flow = Flow()
        let query = try flow.redirected(flow.authorize())
        #expect(query["state"] == "st-42")
        let code = try #require(query["code"])
        let outcome = flow.exchange(code: code)
        let access = try #require(outcome.accessToken, "\(outcome)")
        let refresh = try #require(outcome.refreshToken)
        #expect(flow.issuer.validate(token: access, email: "ops@acme.com"))
        #expect(!flow.issuer.validate(token: access, email: "default@acme.com"))
        let refreshed = flow.issuer.answer(form: ["grant_type": "refresh_token", "refresh_token": refresh, "client_id": Self.clientID,
                                                  "client_secret": Self.secret], basicAuth: nil)
        #expect(flow.issuer.validate(token: try #require(refreshed.accessToken), email: "ops@acme.com"))
        #expect(flow.issuer.tokenRequests(grantType: SandboxGrantType.authorizationCode).map(\.subject) == ["ops@acme.com"])
    }

    @Test func withoutALoginHintTheDefaultMailbox() throws {
        let flow = Flow()
        let code = try #require(try flow.redirected(flow.authorize(["login_hint": nil]))["code"])
        #expect(flow.issuer.validate(token: try #require(flow.exchange(code: code).accessToken), email: "default@acme.com"))
    }

    @Test(arguments: ["http://example.com:8400/", "https://127.0.0.1:8400/", "http://127.0.0.1/", "urn:ietf:wg:oauth:2.0:oob", "http://127.0.0.1.evil.com:80/"])
    func onlyLoopbackHTTPRedirectsAndErrorsAreNotRedirected(_ redirect: String) {
        let response = Flow().authorize(["redirect_uri": redirect])
        #expect(response.status == 400)
        #expect(response.header("location") == nil)
    }

    @Test func loopbackForms() throws {
        for redirect in ["http://localhost:9/cb", "http://[::1]:9/"] {
            #expect(Flow().authorize(["redirect_uri": redirect]).status == 302, "\(redirect)")
        }
        #expect(Flow().authorize(["client_id": "unknown"]).status == 401)
    }

    @Test func pkceIsRequiredAndOnlyS256() throws {
        let flow = Flow()
        for overrides: [String: String?] in [["code_challenge_method": "plain"], ["code_challenge": nil], ["code_challenge_method": nil],
                                              ["code_challenge": "short"]] {
            let query = try flow.redirected(flow.authorize(overrides))
            #expect(query["error"] == "invalid_request", "\(overrides)")
            #expect(query["code"] == nil)
            #expect(query["state"] == "st-42")
        }
        #expect(try flow.redirected(flow.authorize(["response_type": "token"]))["error"] == "unsupported_response_type")
        #expect(try flow.redirected(flow.authorize(["scope": nil]))["error"] == "invalid_request")
    }

    @Test func aVerifierThatDoesNotMatchTheChallengeIsRefused() throws {
        let flow = Flow()
        let code = try #require(try flow.redirected(flow.authorize())["code"])
        let wrong = flow.exchange(code: code, verifier: String(repeating: "a", count: 43))
        #expect(wrong == .error(status: 400, code: "invalid_grant", description: "Invalid code verifier."))
        #expect(flow.exchange(code: code, verifier: "short").errorCode == "invalid_request")
        #expect(flow.exchange(code: code, redirect: "http://127.0.0.1:8401/").errorCode == "redirect_uri_mismatch")
        // None of those spent the code.
        #expect(flow.exchange(code: code).status == 200)
    }

    @Test func aCodeIsGoodOnceAndReusingItRevokesWhatItGave() throws {
        let flow = Flow()
        let code = try #require(try flow.redirected(flow.authorize())["code"])
        let refresh = try #require(flow.exchange(code: code).refreshToken)
        #expect(flow.exchange(code: code).errorCode == "invalid_grant")
        let afterReuse = flow.issuer.answer(form: ["grant_type": "refresh_token", "refresh_token": refresh, "client_id": Self.clientID,
                                                   "client_secret": Self.secret], basicAuth: nil)
        #expect(afterReuse.errorCode == "invalid_grant")
    }

    @Test func aCodeExpires() throws {
        let flow = Flow()
        let code = try #require(try flow.redirected(flow.authorize())["code"])
        flow.clock.advance(.seconds(300))
        #expect(flow.exchange(code: code).errorCode == "invalid_grant")
    }

    @Test func theExchangeNeedsTheClientSecretAndTheSameClient() throws {
        let flow = Flow()
        flow.issuer.registerInteractiveClient(clientID: "other", clientSecret: "other-secret")
        let code = try #require(try flow.redirected(flow.authorize())["code"])
        var form = ["grant_type": "authorization_code", "code": code, "redirect_uri": Self.redirect, "code_verifier": Self.verifier,
                    "client_id": Self.clientID, "client_secret": "wrong"]
        #expect(flow.issuer.answer(form: form, basicAuth: nil).status == 401)
        form["client_id"] = "other"
        form["client_secret"] = "other-secret"
        #expect(flow.issuer.answer(form: form, basicAuth: nil).errorCode == "invalid_grant")
    }

    @Test func deniedAndNeverApproved() throws {
        let denied = Flow(approval: .deny)
        let query = try denied.redirected(denied.authorize())
        #expect(query["error"] == "access_denied")
        #expect(query["state"] == "st-42")
        let never = Flow(approval: .never).authorize()
        #expect(never.status == 200)
        #expect(never.header("location") == nil)
    }
}
