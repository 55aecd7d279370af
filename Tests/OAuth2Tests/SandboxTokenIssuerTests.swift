import Foundation
import Testing
@testable import Sandbox
import TestSupport

@Suite struct SandboxTokenIssuerTests {
    private func refreshForm(_ refreshToken: String, client: String = "cid", secret: String? = "csecret") -> [String: String] {
        var form = ["grant_type": "refresh_token", "client_id": client, "refresh_token": refreshToken]
        if let secret { form["client_secret"] = secret }
        return form
    }

    private func issuedToken(_ outcome: SandboxTokenOutcome) -> String? {
        if case .issued(let token, _, _) = outcome { return token }
        return nil
    }

    @Test func issuesValidatableTokensForTheRightAccountOnly() throws {
        let issuer = SandboxTokenIssuer()
        issuer.register(email: "Alice@Example.com", clientID: "cid", clientSecret: "csecret", refreshToken: "rt-a")
        let outcome = issuer.answer(form: refreshForm("rt-a"), basicAuth: nil)
        let token = try #require(issuedToken(outcome))
        guard case .issued(_, let expiresIn, let rotated) = outcome else { return }
        #expect(expiresIn == 3600)
        #expect(rotated == nil)
        #expect(token.count >= 40)
        #expect(token.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(issuer.validate(token: token, email: "alice@example.com"))
        #expect(!issuer.validate(token: token, email: "bob@example.com"))
        #expect(!issuer.validate(token: token + "x", email: "alice@example.com"))
        #expect(issuer.issuedTokenCount() == 1)
    }

    @Test func tokensExpireByTheInjectedClock() throws {
        let offset = ClockOffset()
        let issuer = SandboxTokenIssuer(tokenLifetime: .seconds(60), now: offset.now)
        issuer.register(email: "a@x", clientID: "cid", clientSecret: "csecret", refreshToken: "rt")
        let token = try #require(issuedToken(issuer.answer(form: refreshForm("rt"), basicAuth: nil)))
        offset.advance(.seconds(59))
        #expect(issuer.validate(token: token, email: "a@x"))
        offset.advance(.seconds(1))
        #expect(!issuer.validate(token: token, email: "a@x"))
    }

    @Test func rejectsWrongClientsAndUnknownGrants() {
        let issuer = SandboxTokenIssuer()
        issuer.register(email: "a@x", clientID: "cid", clientSecret: "csecret", refreshToken: "rt")
        issuer.register(email: "b@x", clientID: "other", clientSecret: "osecret", refreshToken: "rt-b")
        #expect(issuer.answer(form: refreshForm("rt", secret: "wrong"), basicAuth: nil).status == 401)
        #expect(issuer.answer(form: refreshForm("rt", secret: nil), basicAuth: nil).status == 401)
        #expect(issuer.answer(form: refreshForm("rt", client: "nobody"), basicAuth: nil).status == 401)
        #expect(issuer.answer(form: refreshForm("unknown"), basicAuth: nil)
            == .error(status: 400, code: "invalid_grant", description: "Token has been expired or revoked."))
        // Another client's refresh token is no grant for this one.
        #expect(issuer.answer(form: refreshForm("rt-b"), basicAuth: nil).status == 400)
        #expect(issuer.answer(form: ["grant_type": "password", "client_id": "cid", "client_secret": "csecret"], basicAuth: nil)
            == .error(status: 400, code: "unsupported_grant_type", description: "Supported: refresh_token, client_credentials, jwt-bearer, device_code, authorization_code."))
        #expect(issuer.issuedTokenCount() == 0)
    }

    @Test func basicAuthenticationIsAccepted() {
        let issuer = SandboxTokenIssuer()
        issuer.register(email: "a@x", clientID: "cid", clientSecret: "csecret", refreshToken: "rt")
        let form = ["grant_type": "refresh_token", "refresh_token": "rt"]
        #expect(issuer.answer(form: form, basicAuth: ("cid", "csecret")).status == 200)
        #expect(issuer.answer(form: form, basicAuth: ("cid", "nope")).status == 401)
    }

    @Test func publicClientsSendNoSecret() {
        let issuer = SandboxTokenIssuer()
        issuer.register(email: "a@x", clientID: "cid", clientSecret: nil, refreshToken: "rt")
        #expect(issuer.answer(form: refreshForm("rt", secret: nil), basicAuth: nil).status == 200)
        #expect(issuer.answer(form: refreshForm("rt", secret: ""), basicAuth: nil).status == 200)
        #expect(issuer.answer(form: refreshForm("rt", secret: "x"), basicAuth: nil).status == 401)
    }

    @Test func revokeAndRotation() throws {
        let issuer = SandboxTokenIssuer()
        issuer.register(email: "a@x", clientID: "cid", clientSecret: "csecret", refreshToken: "rt-1")
        issuer.rotateRefreshTokens = true
        let outcome = issuer.answer(form: refreshForm("rt-1"), basicAuth: nil)
        guard case .issued(_, _, let rotated?) = outcome else {
            Issue.record("expected a rotated refresh token, got \(outcome)")
            return
        }
        #expect(issuer.currentRefreshToken(email: "a@x") == rotated)
        #expect(issuer.answer(form: refreshForm("rt-1"), basicAuth: nil).status == 400)
        #expect(issuer.answer(form: refreshForm(rotated), basicAuth: nil).status == 200)
        issuer.rotateRefreshTokens = false
        let current = try #require(issuer.currentRefreshToken(email: "a@x"))
        issuer.revoke(refreshToken: current)
        #expect(issuer.answer(form: refreshForm(current), basicAuth: nil).status == 400)
    }

    @Test func injectedFailuresComeFirstThenNormalService() {
        let issuer = SandboxTokenIssuer()
        issuer.register(email: "a@x", clientID: "cid", clientSecret: "csecret", refreshToken: "rt")
        issuer.failNextRequests(2, status: 503)
        #expect(issuer.answer(form: refreshForm("rt"), basicAuth: nil).status == 503)
        #expect(issuer.answer(form: refreshForm("rt"), basicAuth: nil).status == 503)
        #expect(issuer.answer(form: refreshForm("rt"), basicAuth: nil).status == 200)
    }

    @Test func clientCredentialsGrant() throws {
        let issuer = SandboxTokenIssuer()
        issuer.registerClientCredentials(email: "bench@x", clientID: "bench", clientSecret: "bsecret")
        let form = ["grant_type": "client_credentials", "client_id": "bench", "client_secret": "bsecret"]
        let token = try #require(issuedToken(issuer.answer(form: form, basicAuth: nil)))
        #expect(issuer.validate(token: token, email: "BENCH@x"))
        issuer.register(email: "a@x", clientID: "cid", clientSecret: "csecret", refreshToken: "rt")
        #expect(issuer.answer(form: ["grant_type": "client_credentials", "client_id": "cid", "client_secret": "csecret"], basicAuth: nil)
            == .error(status: 400, code: "unauthorized_client", description: "Client may not use client_credentials."))
    }

    @Test func lifetimeCanChangeForLaterTokens() throws {
        let issuer = SandboxTokenIssuer(tokenLifetime: .seconds(10))
        issuer.register(email: "a@x", clientID: "cid", clientSecret: "csecret", refreshToken: "rt")
        issuer.tokenLifetime = .seconds(2)
        guard case .issued(_, let expiresIn, _) = issuer.answer(form: refreshForm("rt"), basicAuth: nil) else {
            Issue.record("expected a token")
            return
        }
        #expect(expiresIn == 2)
    }

    @Test func formBodyDecoding() throws {
        #expect(try SandboxFormBody.decode(Array("a=1&b=x%2By+z&c=&d".utf8)) == ["a": "1", "b": "x+y z", "c": "", "d": ""])
        #expect(throws: SandboxFormBody.Problem.badPercentEscape) { try SandboxFormBody.decode(Array("a=%zz".utf8)) }
        #expect(throws: SandboxFormBody.Problem.repeatedField("a")) { try SandboxFormBody.decode(Array("a=1&a=2".utf8)) }
    }

    @Test func jsonBodiesHaveTheProviderShape() throws {
        let issued = SandboxTokenOutcome.issued(accessToken: "tok", expiresIn: 3600, refreshToken: nil).jsonBody()
        #expect(String(decoding: issued, as: UTF8.self) == #"{"access_token":"tok","expires_in":3600,"token_type":"Bearer"}"#)
        let error = SandboxTokenOutcome.error(status: 400, code: "invalid_grant", description: "Bad.").jsonBody()
        #expect(String(decoding: error, as: UTF8.self) == #"{"error":"invalid_grant","error_description":"Bad."}"#)
    }
}

/// A movable "now" for the issuer.
final class ClockOffset: Sendable {
    private let clock = ManualClock()
    var now: @Sendable () -> ContinuousClock.Instant { clock.clock.now }
    func advance(_ duration: Duration) { clock.advance(by: duration) }
}
