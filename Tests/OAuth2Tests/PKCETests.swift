import Foundation
import Testing
@testable import OAuth2

@Suite struct PKCETests {
    /// RFC 7636 appendix B.
    @Test func s256MatchesTheRFCTestVector() throws {
        let pkce = try #require(PKCE(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))
        #expect(pkce.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        #expect(PKCE.method == "S256")
    }

    @Test func randomVerifiersAre43UnreservedCharactersAndNeverRepeat() {
        let verifiers = (0..<200).map { _ in PKCE.random().verifier }
        #expect(Set(verifiers).count == verifiers.count)
        for verifier in verifiers {
            #expect(verifier.utf8.count == 43)
            #expect(PKCE(verifier: verifier) != nil)
        }
        // 32 random bytes: every base64url character shows up across 200 verifiers.
        #expect(Set(verifiers.joined()).count == 64)
    }

    @Test(arguments: ["short", String(repeating: "a", count: 42), String(repeating: "a", count: 129),
                      String(repeating: "a", count: 42) + "+", String(repeating: "a", count: 42) + "="])
    func verifiersOutsideTheRFCAlphabetOrLengthAreRefused(verifier: String) {
        #expect(PKCE(verifier: verifier) == nil)
    }

    @Test func base64URLAgreesWithFoundationForEveryLength() {
        for length in 0...40 {
            let bytes = PKCE.randomBytes(length)
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(PKCE.base64URL(bytes) == expected, "length \(length)")
        }
        #expect(PKCE.base64URL([0xFB, 0xFF]) == "-_8")
    }

    @Test func theVerifierIsNotInTheDescription() {
        let pkce = PKCE.random()
        #expect(!"\(pkce)".contains(pkce.verifier))
        #expect(!String(reflecting: pkce).contains(pkce.verifier))
    }
}
