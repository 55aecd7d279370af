import Testing
import Accounts

@Suite("Account directory")
struct AccountDirectoryTests {
    let sales = Account(accountID: "sales", email: "Sales@Example.com", provider: .gmail, clientID: "cid",
                        clientSecret: Secrets.clientSecret, refreshToken: Secrets.refreshToken, password: Secrets.password)
    let support = Account(email: "support@example.com", provider: .outlook, clientID: "cid2", refreshToken: Secrets.otherRefreshToken)

    @Test("lookup by email ignores case", arguments: ["sales@example.com", "SALES@EXAMPLE.COM", "Sales@Example.com", "sAlEs@eXaMpLe.CoM"])
    func caseInsensitiveLookup(email: String) throws {
        let directory = try AccountDirectory(accounts: [sales, support])
        #expect(directory.account(forEmail: email)?.accountID == "sales")
    }

    @Test("unknown emails and partial matches find nothing", arguments: ["", "sales", "sales@example.co", "sales@example.com ", "other@example.com"])
    func unknownEmail(email: String) throws {
        let directory = try AccountDirectory(accounts: [sales, support])
        #expect(directory.account(forEmail: email) == nil)
    }

    @Test("lookup by account ID is exact")
    func lookupByID() throws {
        let directory = try AccountDirectory(accounts: [sales, support])
        #expect(directory.account(forID: "sales") == sales)
        #expect(directory.account(forID: "support@example.com") == support)
        #expect(directory.account(forID: "SALES") == nil)
        #expect(directory.count == 2)
        #expect(directory.accounts == [sales, support])
    }

    @Test("hand-built duplicate emails are rejected")
    func duplicateEmails() throws {
        var clash = support
        clash.email = "SALES@example.COM"
        #expect(throws: ConfigError.self) { try AccountDirectory(accounts: [sales, clash]) }
        do {
            _ = try AccountDirectory(accounts: [sales, clash], source: "test")
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.source == "test")
            #expect(error.field == "email")
            #expect(error.index == 1)
            #expect(error.accountID == "support@example.com")
            #expect(error.description.contains("\"sales\" (#1)"))
            expectNoSecrets(in: error)
        }
    }

    @Test("hand-built duplicate account IDs are rejected")
    func duplicateIDs() throws {
        var clash = support
        clash.accountID = "sales"
        do {
            _ = try AccountDirectory(accounts: [sales, clash])
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.field == "account_id")
            #expect(error.index == 1)
            #expect(error.accountID == "sales")
        }
    }

    @Test("the hand-built initialiser applies provider defaults")
    func handBuiltDefaults() {
        #expect(support.accountID == "support@example.com")
        #expect(support.tenant == "common")
        #expect(support.tokenURL == "https://login.microsoftonline.com/common/oauth2/v2.0/token")
        #expect(support.scope == "https://outlook.office.com/SMTP.Send offline_access")
        #expect(support.smtpHost == "smtp.office365.com")
        #expect(support.smtpPort == 587)
        #expect(support.maxConnections == 3)
        #expect(support.maxMessagesPerConnection == 100)

        let implicitTLS = Account(email: "a@b.c", provider: .custom, clientID: "c", clientSecret: "s", refreshToken: "r",
                                  tokenURL: "https://t.example/{tenant}/token", tenant: "t1", smtpHost: "mx.example", smtpTLS: .tls)
        #expect(implicitTLS.smtpPort == 465)
        #expect(implicitTLS.tokenURL == "https://t.example/t1/token")
        #expect(implicitTLS.scope == nil)
        #expect(implicitTLS.maxConnections == 5)
    }

    @Test("the loader and the hand-built initialiser agree")
    func loaderMatchesInit() throws {
        let loaded = try AccountsConfigLoader.parse(document(.outlook()), source: testSource).accounts
        let built = Account(accountID: "support", email: "support@example.com", provider: .outlook,
                            clientID: "client-id-123.apps.googleusercontent.com",
                            refreshToken: Secrets.refreshToken, password: Secrets.password)
        #expect(loaded == [built])
    }

    @Test("password check: matches only the configured password, never when none is set")
    func passwordMatches() {
        #expect(sales.passwordMatches(Secrets.password))
        #expect(!sales.passwordMatches(Secrets.password.lowercased()))
        #expect(!sales.passwordMatches(Secrets.password + " "))
        #expect(!sales.passwordMatches(String(Secrets.password.dropLast())))
        #expect(!sales.passwordMatches(""))
        #expect(sales.canLogIn)
        #expect(!support.canLogIn)
        #expect(!support.passwordMatches(""))
        #expect(!support.passwordMatches("anything"))
    }
}
