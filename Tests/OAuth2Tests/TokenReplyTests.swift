import Testing
@testable import OAuth2

@Suite struct TokenReplyTests {
    private func classify(_ status: Int, _ body: String) -> TokenReply {
        TokenReply.classify(status: status, body: Array(body.utf8))
    }

    private func isRetryable(_ reply: TokenReply) -> Bool {
        if case .retryable = reply { return true }
        return false
    }

    /// Microsoft's AADSTS numbers name the cause (7000215: wrong client secret); only whole
    /// numbers in range are kept, at most eight (issue 13, item 7).
    @Test func microsoftErrorCodesAreKept() {
        guard case .rejected(let problem) = classify(401, #"{"error":"invalid_client","error_codes":[7000215,50034.5,-1,1e12]}"#) else {
            Issue.record("expected rejected"); return
        }
        #expect(problem.errorCodes == [7000215])
        guard case .failed(let many) = classify(403, #"{"error":"x","error_codes":[1,2,3,4,5,6,7,8,9,10]}"#) else {
            Issue.record("expected failed"); return
        }
        #expect(many.errorCodes == [1, 2, 3, 4, 5, 6, 7, 8])
        guard case .failed(let strings) = classify(403, #"{"error":"x","error_codes":["7000215 secret"]}"#) else {
            Issue.record("expected failed"); return
        }
        #expect(strings.errorCodes == nil)
    }

    @Test func goodReply() {
        #expect(classify(200, #"{"access_token":"ya29.abc","expires_in":3599,"token_type":"Bearer","scope":"x"}"#)
            == .token(value: "ya29.abc", expiresIn: .seconds(3599), refreshToken: nil))
    }

    @Test func rotatedRefreshTokenIsReturned() {
        #expect(classify(200, #"{"access_token":"a","expires_in":60,"token_type":"bearer","refresh_token":"r2"}"#)
            == .token(value: "a", expiresIn: .seconds(60), refreshToken: "r2"))
    }

    @Test func expiresInAsStringIsAccepted() {
        #expect(classify(200, #"{"access_token":"a","expires_in":" 3600 ","token_type":"Bearer"}"#)
            == .token(value: "a", expiresIn: .seconds(3600), refreshToken: nil))
    }

    @Test func missingExpiresInDefaultsToAnHour() {
        #expect(classify(200, #"{"access_token":"a"}"#) == .token(value: "a", expiresIn: .seconds(3600), refreshToken: nil))
        #expect(classify(200, #"{"access_token":"a","expires_in":null}"#) == .token(value: "a", expiresIn: .seconds(3600), refreshToken: nil))
    }

    @Test func expiresInIsClamped() {
        #expect(classify(200, #"{"access_token":"a","expires_in":0}"#) == .token(value: "a", expiresIn: .seconds(1), refreshToken: nil))
        #expect(classify(200, #"{"access_token":"a","expires_in":-50}"#) == .token(value: "a", expiresIn: .seconds(1), refreshToken: nil))
        #expect(classify(200, #"{"access_token":"a","expires_in":1e12}"#) == .token(value: "a", expiresIn: .seconds(172_800), refreshToken: nil))
    }

    @Test func nonNumericExpiresInIsMalformed() {
        #expect(isRetryable(classify(200, #"{"access_token":"a","expires_in":"soon"}"#)))
        #expect(isRetryable(classify(200, #"{"access_token":"a","expires_in":true}"#)))
    }

    @Test func missingOrEmptyAccessTokenIsMalformed() {
        #expect(isRetryable(classify(200, #"{"expires_in":3600,"token_type":"Bearer"}"#)))
        #expect(isRetryable(classify(200, #"{"access_token":"","expires_in":3600}"#)))
        #expect(isRetryable(classify(200, #"{"access_token":42}"#)))
    }

    @Test func nonBearerTokenTypeIsMalformedAndNotEchoed() throws {
        let reply = classify(200, #"{"access_token":"a","token_type":"MAC-secretish"}"#)
        guard case .retryable(let problem) = reply else {
            Issue.record("expected retryable, got \(reply)")
            return
        }
        #expect(problem.reason.contains("token_type"))
        #expect(!problem.reason.contains("secretish"))
    }

    @Test func garbageBodiesAreMalformed() {
        #expect(isRetryable(classify(200, "<html>oops</html>")))
        #expect(isRetryable(classify(200, "")))
        #expect(isRetryable(classify(200, "[1,2]")))
        #expect(isRetryable(classify(200, #"{"access_token":"a""#)))
    }

    @Test(arguments: [(400, "invalid_grant"), (400, "invalid_client"), (401, "invalid_client"), (400, "unauthorized_client")])
    func credentialErrorsAreRejections(status: Int, code: String) {
        #expect(classify(status, #"{"error":"\#(code)","error_description":"Bad."}"#)
            == .rejected(TokenReplyProblem(status: status, oauthError: code, errorDescription: "Bad.", reason: "HTTP \(status)")))
    }

    @Test func otherClientErrorsFailWithoutRetry() {
        #expect(classify(400, #"{"error":"invalid_request"}"#)
            == .failed(TokenReplyProblem(status: 400, oauthError: "invalid_request", errorDescription: nil, reason: "HTTP 400")))
        // invalid_grant only counts with the statuses RFC 6749 uses for it.
        #expect(classify(403, #"{"error":"invalid_grant"}"#)
            == .failed(TokenReplyProblem(status: 403, oauthError: "invalid_grant", errorDescription: nil, reason: "HTTP 403")))
        #expect(classify(404, "Not Found") == .failed(TokenReplyProblem(status: 404, oauthError: nil, errorDescription: nil, reason: "HTTP 404")))
    }

    @Test func serverErrorsThrottlingAndTimeoutsAreRetryable() {
        #expect(classify(503, #"{"error":"temporarily_unavailable"}"#)
            == .retryable(TokenReplyProblem(status: 503, oauthError: "temporarily_unavailable", errorDescription: nil, reason: "HTTP 503")))
        #expect(isRetryable(classify(500, "<html>")))
        #expect(isRetryable(classify(429, #"{"error":"slow_down"}"#)))
        #expect(isRetryable(classify(408, "")))
    }

    @Test func errorFieldsAreSanitised() {
        let long = String(repeating: "x", count: 500)
        let reply = classify(400, #"{"error":"invalid_grant\nFAKE log line","error_description":"line1\nline2 \#(long)"}"#)
        // Once the injected text is stripped the code is no known one, so this is no rejection.
        guard case .failed(let problem) = reply else {
            Issue.record("expected a plain failure, got \(reply)")
            return
        }
        #expect(problem.oauthError == "invalid_grantFAKElogline")
        #expect(problem.errorDescription?.contains("\n") == false)
        #expect((problem.errorDescription?.count ?? 0) <= ReplyText.maxDescriptionLength + 1)
    }

    @Test func longOpaqueWordsAreMaskedButUUIDsKept() {
        let text = "AADSTS70000: bad. Trace ID: 0b7c3f2e-1a2b-4c3d-8e9f-0123456789ab token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.sig_ok end"
        #expect(ReplyText.description(text)
            == "AADSTS70000: bad. Trace ID: 0b7c3f2e-1a2b-4c3d-8e9f-0123456789ab token [redacted] end")
    }

    @Test func redactionRemovesSecrets() {
        #expect(ReplyText.redact("bad token 1//rt-secret here", secrets: ["1//rt-secret", "abc"]) == "bad token [redacted] here")
    }
}
