import Testing
@testable import SMTPCore

@Suite struct SASLTests {
    @Test func decodesPlain() {
        let encoded = SASL.encodeBase64("\0user@example.com\0pa ss\0word")
        #expect(SASL.decodePlain(encoded) == .success(.init(username: "user@example.com", password: "pa ss\0word")))
        #expect(SASL.decodePlain(SASL.encodeBase64("User@Example.com\0user@example.com\0pw")) == .success(.init(username: "user@example.com", password: "pw")))
    }

    @Test(arguments: [
        ("not base64!!", SASL.DecodeError.notBase64),
        (SASL.encodeBase64("nouser"), .malformed),
        (SASL.encodeBase64("\0\0pw"), .malformed),
        (SASL.encodeBase64("other@example.com\0user@example.com\0pw"), .malformed),
    ])
    func rejectsBadPlain(input: String, error: SASL.DecodeError) {
        #expect(SASL.decodePlain(input) == .failure(error))
    }

    @Test func buildsXOAUTH2ExactlyAsProvidersExpect() {
        let response = SASL.xoauth2InitialResponse(email: "someuser@example.com", accessToken: "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
        // The example from Google's XOAUTH2 documentation.
        #expect(response == "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==")
        #expect(SASL.decodeXOAUTH2(response)?.user == "someuser@example.com")
        #expect(SASL.decodeXOAUTH2(response)?.token == "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
        #expect(SASL.decodeXOAUTH2(SASL.encodeBase64("user=x\u{01}\u{01}")) == nil)
    }

    @Test func loginFieldsAndEmptyResponse() {
        #expect(SASL.decodeLoginField(SASL.loginUsernameChallenge) == .success("Username:"))
        #expect(SASL.decodeBase64("=") == [])
    }
}
