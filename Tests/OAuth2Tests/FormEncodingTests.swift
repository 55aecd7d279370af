import Testing
@testable import OAuth2

@Suite struct FormEncodingTests {
    @Test func unreservedCharactersPassThrough() {
        #expect(FormURLEncoding.percentEncode("AZaz09-._~") == "AZaz09-._~")
    }

    @Test func everythingElseIsPercentEncodedWithUppercaseHex() {
        #expect(FormURLEncoding.percentEncode("a b+c/d=e&f?g%h*i") == "a%20b%2Bc%2Fd%3De%26f%3Fg%25h%2Ai")
        #expect(FormURLEncoding.percentEncode("é\n") == "%C3%A9%0A")
        #expect(FormURLEncoding.percentEncode("") == "")
    }

    @Test func fieldsAreJoinedInOrder() {
        #expect(FormURLEncoding.encode([("a", "1"), ("b c", "x&y")]) == "a=1&b%20c=x%26y")
    }

    @Test func refreshGrantBodyOmitsNilSecretAndScope() {
        let publicClient = OAuth2Credentials(tokenURL: "https://t/", clientID: "id", clientSecret: nil, refreshToken: "r/1", scope: nil)
        #expect(FormURLEncoding.encode(publicClient.refreshGrantFields) == "client_id=id&refresh_token=r%2F1&grant_type=refresh_token")
    }

    @Test func refreshGrantBodyIncludesSecretAndScopeWhenSet() {
        let credentials = OAuth2Credentials(tokenURL: "https://t/", clientID: "id", clientSecret: "s+s", refreshToken: "r",
                                            scope: "https://mail.google.com/ offline_access")
        #expect(FormURLEncoding.encode(credentials.refreshGrantFields)
            == "client_id=id&client_secret=s%2Bs&refresh_token=r&grant_type=refresh_token&scope=https%3A%2F%2Fmail.google.com%2F%20offline_access")
    }

    @Test func credentialsDescriptionHidesSecrets() {
        let text = "\(sampleCredentials) \(String(reflecting: sampleCredentials))"
        #expect(!text.contains("SECRET"))
        #expect(text.contains("client-1.apps.example.com"))
    }
}
