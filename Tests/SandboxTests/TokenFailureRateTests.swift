import Testing
@testable import Sandbox

/// Random token-endpoint failures, through the issuer's pure entry point (no HTTP).
@Suite struct TokenFailureRateTests {
    private let form = ["grant_type": "client_credentials", "client_id": "cid", "client_secret": "secret"]

    private func issuer() -> SandboxTokenIssuer {
        let issuer = SandboxTokenIssuer()
        issuer.registerClientCredentials(email: "a@example.com", clientID: "cid", clientSecret: "secret")
        return issuer
    }

    private func statuses(_ issuer: SandboxTokenIssuer, count: Int) -> [Int] {
        (0..<count).map { _ in issuer.answer(form: form, basicAuth: nil).status }
    }

    @Test func rateOneFailsEveryRequestWithTheGivenStatusAndBody() {
        let issuer = issuer()
        issuer.setFailureRate(1, status: 500)
        #expect(statuses(issuer, count: 20) == Array(repeating: 500, count: 20))
        // Any grant: a request that would be refused anyway fails the same way.
        #expect(issuer.answer(form: ["grant_type": "password"], basicAuth: nil).status == 500)
        let body = String(decoding: issuer.answer(form: form, basicAuth: nil).jsonBody(), as: UTF8.self)
        #expect(body.hasPrefix(#"{"error":"temporarily_unavailable""#))
        #expect(issuer.failedRequestCount == 22)
        #expect(issuer.issuedTokenCount() == 0)
    }

    @Test func rateZeroTurnsItOff() {
        let issuer = issuer()
        issuer.setFailureRate(1)
        #expect(issuer.answer(form: form, basicAuth: nil).status == 503)
        issuer.setFailureRate(0)
        #expect(statuses(issuer, count: 50).allSatisfy { $0 == 200 })
        #expect(issuer.failedRequestCount == 1)
        #expect(issuer.issuedTokenCount() == 50)
    }

    @Test func aPartialRateLandsNearItAndIsReproducible() {
        let a = issuer()
        let b = issuer()
        a.setFailureRate(0.3, seed: 99)
        b.setFailureRate(0.3, seed: 99)
        let observed = statuses(a, count: 1000)
        #expect(observed == statuses(b, count: 1000))
        let failed = observed.filter { $0 == 503 }.count
        #expect((200...400).contains(failed))
        #expect(a.failedRequestCount == failed)
        #expect(a.issuedTokenCount() == 1000 - failed)
    }

    @Test func countedFailuresComeFirstAndAreCountedToo() {
        let issuer = issuer()
        issuer.failNextRequests(2, status: 500)
        issuer.setFailureRate(1, status: 503)
        #expect(statuses(issuer, count: 3) == [500, 500, 503])
        #expect(issuer.failedRequestCount == 3)
    }
}
