import Testing
import Accounts

@Suite("Account redaction")
struct RedactionTests {
    let account = Account(accountID: "sales", email: "sales@example.com", provider: .gmail, clientID: "visible-client-id",
                          clientSecret: Secrets.clientSecret, refreshToken: Secrets.refreshToken, password: Secrets.password)

    @Test("every textual rendering hides secrets")
    func renderingsHideSecrets() {
        var dumped = ""
        dump(account, to: &dumped)
        let renderings = [
            ("description", account.description),
            ("debugDescription", account.debugDescription),
            ("interpolation", "\(account)"),
            ("String(describing:)", String(describing: account)),
            ("String(reflecting:)", String(reflecting: account)),
            ("array interpolation", "\([account])"),
            ("optional interpolation", String(describing: Optional(account))),
            ("dump", dumped),
        ]
        for (name, text) in renderings {
            for secret in [Secrets.clientSecret, Secrets.refreshToken, Secrets.password] {
                #expect(!text.contains(secret), "\(name) leaked a secret: \(text)")
            }
            #expect(text.contains("<redacted>"), "\(name) should mark redaction: \(text)")
            #expect(text.contains("sales@example.com"), "\(name) should still identify the account: \(text)")
        }
    }

    @Test("description names fields and shows non-secret values")
    func descriptionContent() {
        let text = account.description
        #expect(text.hasPrefix("Account("))
        #expect(text.contains("clientSecret: <redacted>"))
        #expect(text.contains("refreshToken: <redacted>"))
        #expect(text.contains("password: <redacted>"))
        #expect(text.contains("clientID: \"visible-client-id\""))
        #expect(text.contains("tokenURL: \"https://oauth2.googleapis.com/token\""))
        #expect(text.contains("smtpPort: 587"))
        #expect(text.contains(
            "limits: AccountLimits(messagesPerMinute: 0, messagesPerHour: 0, messagesPerDay: 2000, recipientsPerDay: 10000, concurrentMessages: 5)"
        ))
    }

    @Test("absent secrets print as nil so an operator can tell")
    func absentSecrets() {
        let publicClient = Account(email: "a@example.com", provider: .outlook, clientID: "c", refreshToken: Secrets.refreshToken)
        #expect(publicClient.description.contains("clientSecret: nil"))
        #expect(publicClient.description.contains("password: nil"))
        #expect(publicClient.description.contains("refreshToken: <redacted>"))
        #expect(!publicClient.description.contains(Secrets.refreshToken))
    }
}
