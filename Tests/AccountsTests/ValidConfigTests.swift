import Foundation
import Testing
import Accounts

@Suite("Valid configurations")
struct ValidConfigTests {
    @Test("object form with every field set is read verbatim")
    func objectFormAllFields() throws {
        let account = AccountJSON.gmail()
            .setting("token_url", string: "https://oauth2.example.com/token")
            .setting("scope", string: "https://mail.google.com/")
            .setting("tenant", string: "ignored-for-gmail")
            .setting("smtp_host", string: "smtp-relay.gmail.com")
            .setting("smtp_port", raw: "2525")
            .setting("smtp_tls", string: "tls")
            .setting("max_connections", raw: "7")
            .setting("max_messages_per_connection", raw: "42")
            .setting("max_messages_per_minute", raw: "11")
            .setting("max_messages_per_hour", raw: "12")
            .setting("max_messages_per_day", raw: "13")
            .setting("max_recipients_per_day", raw: "14")
            .setting("max_concurrent_messages", raw: "15")
        let directory = try AccountsConfigLoader.parse(document(account), source: testSource)

        #expect(directory.accounts.count == 1)
        let parsed = try #require(directory.accounts.first)
        #expect(parsed.accountID == "sales")
        #expect(parsed.email == "sales@example.com")
        #expect(parsed.provider == .gmail)
        #expect(parsed.clientID == "client-id-123.apps.googleusercontent.com")
        #expect(parsed.clientSecret == Secrets.clientSecret)
        #expect(parsed.refreshToken == Secrets.refreshToken)
        #expect(parsed.password == Secrets.password)
        #expect(parsed.tokenURL == "https://oauth2.example.com/token")
        #expect(parsed.scope == "https://mail.google.com/")
        #expect(parsed.tenant == "ignored-for-gmail")
        #expect(parsed.smtpHost == "smtp-relay.gmail.com")
        #expect(parsed.smtpPort == 2525)
        #expect(parsed.smtpTLS == .tls)
        #expect(parsed.tlsCAFile == nil)
        #expect(parsed.maxConnections == 7)
        #expect(parsed.maxMessagesPerConnection == 42)
        #expect(parsed.limits == AccountLimits(
            messagesPerMinute: 11, messagesPerHour: 12, messagesPerDay: 13, recipientsPerDay: 14, concurrentMessages: 15
        ))
    }

    @Test("a bare top-level array is accepted and keeps file order")
    func bareArrayForm() throws {
        let json = "[" + AccountJSON.gmail().json + ", " + AccountJSON.outlook().json + "]"
        let directory = try AccountsConfigLoader.parse(json, source: testSource)
        #expect(directory.accounts.map(\.accountID) == ["sales", "support"])
        #expect(directory.accounts.map(\.provider) == [.gmail, .outlook])
    }

    @Test("Data, [UInt8] and String inputs parse the same")
    func inputOverloads() throws {
        let json = document(.gmail(), .outlook())
        let fromString = try AccountsConfigLoader.parse(json, source: testSource)
        let fromBytes = try AccountsConfigLoader.parse(Array(json.utf8), source: testSource)
        let fromData = try AccountsConfigLoader.parse(Data(json.utf8), source: testSource)
        #expect(fromString.accounts == fromBytes.accounts)
        #expect(fromString.accounts == fromData.accounts)
        #expect(fromString.accounts.count == 2)
    }

    @Test("gmail defaults")
    func gmailDefaults() throws {
        let account = try onlyAccount(AccountJSON.gmail(id: nil).removing("password"))
        #expect(account.accountID == "sales@example.com", "account_id defaults to the email")
        #expect(account.password == nil)
        #expect(!account.canLogIn)
        #expect(account.tokenURL == "https://oauth2.googleapis.com/token")
        #expect(account.scope == nil)
        #expect(account.tenant == nil)
        #expect(account.smtpHost == "smtp.gmail.com")
        #expect(account.smtpPort == 587)
        #expect(account.smtpTLS == .starttls)
        #expect(account.maxConnections == 5)
        #expect(account.maxMessagesPerConnection == 100)
    }

    @Test("outlook defaults: tenant common, SMTP.Send scope, no client secret needed")
    func outlookDefaults() throws {
        let account = try onlyAccount(.outlook())
        #expect(account.clientSecret == nil)
        #expect(account.tenant == "common")
        #expect(account.tokenURL == "https://login.microsoftonline.com/common/oauth2/v2.0/token")
        #expect(account.scope == "https://outlook.office.com/SMTP.Send offline_access")
        #expect(account.smtpHost == "smtp.office365.com")
        #expect(account.smtpPort == 587)
        #expect(account.smtpTLS == .starttls)
        #expect(account.maxConnections == 3)
        #expect(account.maxMessagesPerConnection == 100)
    }

    @Test("outlook tenant is substituted into the default token URL")
    func outlookTenantSubstitution() throws {
        let account = try onlyAccount(AccountJSON.outlook().setting("tenant", string: "contoso.onmicrosoft.com"))
        #expect(account.tenant == "contoso.onmicrosoft.com")
        #expect(account.tokenURL == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
    }

    @Test("{tenant} in an explicit token_url is substituted too")
    func explicitTokenURLTenantSubstitution() throws {
        let account = try onlyAccount(
            AccountJSON.outlook()
                .setting("tenant", string: "8f1c2d3e-0000-4000-8000-000000000001")
                .setting("token_url", string: "https://login.microsoftonline.us/{tenant}/oauth2/v2.0/token")
                .setting("client_secret", string: Secrets.clientSecret)
        )
        #expect(account.tokenURL == "https://login.microsoftonline.us/8f1c2d3e-0000-4000-8000-000000000001/oauth2/v2.0/token")
        #expect(account.clientSecret == Secrets.clientSecret)
    }

    @Test("custom provider: no scope, 5 connections, given endpoints")
    func customDefaults() throws {
        let account = try onlyAccount(.custom())
        #expect(account.tokenURL == "https://auth.example.org/oauth2/token")
        #expect(account.smtpHost == "mail.example.org")
        #expect(account.scope == nil)
        #expect(account.tenant == nil)
        #expect(account.smtpPort == 587)
        #expect(account.maxConnections == 5)
    }

    @Test("smtp_tls tls defaults the port to 465; an explicit port wins", arguments: [
        (nil as Int?, SMTPTLSMode.tls, 465),
        (nil, .starttls, 587),
        (2465, .tls, 2465),
        (25, .starttls, 25),
    ])
    func portDefaultsFollowTLSMode(port: Int?, mode: SMTPTLSMode, expected: Int) throws {
        var json = AccountJSON.gmail().setting("smtp_tls", string: mode.rawValue)
        if let port { json = json.setting("smtp_port", raw: String(port)) }
        #expect(try onlyAccount(json).smtpPort == expected)
    }

    @Test("plain-text SMTP and http token URLs are allowed towards loopback", arguments: [
        ("127.0.0.1", "http://127.0.0.1:8080/token", "127.0.0.1"),
        ("127.45.3.2", "http://127.255.255.254/token", "127.45.3.2"),
        ("localhost", "http://localhost:9000/oauth2/token", "localhost"),
        ("LocalHost", "HTTP://LOCALHOST/token", "LocalHost"),
        ("::1", "http://[::1]:8080/token", "::1"),
        ("[::1]", "http://[0:0:0:0:0:0:0:1]/token", "::1"),
        ("::ffff:127.0.0.1", "http://[::ffff:127.0.0.1]/token", "::ffff:127.0.0.1"),
    ])
    func loopbackPlainText(host: String, tokenURL: String, storedHost: String) throws {
        let account = try onlyAccount(
            AccountJSON.custom()
                .setting("smtp_host", string: host)
                .setting("smtp_tls", string: "none")
                .setting("token_url", string: tokenURL)
        )
        #expect(account.smtpTLS == .none)
        #expect(account.smtpHost == storedHost)
        #expect(account.tokenURL == tokenURL)
        #expect(account.smtpPort == 587)
    }

    @Test("null in an optional field means the field is absent")
    func nullMeansAbsent() throws {
        let account = try onlyAccount(
            AccountJSON.outlook()
                .setting("account_id", raw: "null")
                .setting("password", raw: "null")
                .setting("client_secret", raw: "null")
                .setting("scope", raw: "null")
                .setting("smtp_port", raw: "null")
                .setting("smtp_tls", raw: "null")
        )
        #expect(account.accountID == "support@example.com")
        #expect(account.password == nil)
        #expect(account.clientSecret == nil)
        #expect(account.scope == "https://outlook.office.com/SMTP.Send offline_access")
        #expect(account.smtpPort == 587)
        #expect(account.smtpTLS == .starttls)
    }

    @Test("JSON string escapes are decoded, including surrogate pairs")
    func stringEscapes() throws {
        let account = try onlyAccount(
            AccountJSON.gmail().setting("password", raw: #""p\u00e4ss\"w\\o\/rd\ud83d\ude00\n\t""#)
        )
        #expect(account.password == "p\u{e4}ss\"w\\o/rd\u{1F600}\n\t")
    }

    @Test("a UTF-8 byte order mark and surrounding whitespace are ignored")
    func byteOrderMark() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array(" \r\n\t\(document(.gmail()))\n ".utf8)
        let directory = try AccountsConfigLoader.parse(bytes, source: testSource)
        #expect(directory.accounts.first?.accountID == "sales")
    }

    @Test("several accounts of different providers load side by side")
    func severalAccounts() throws {
        let directory = try AccountsConfigLoader.parse(
            document(.gmail(), .other, .outlook(), .custom(id: nil)), source: testSource
        )
        #expect(directory.accounts.map(\.accountID) == ["sales", "other", "support", "ops@example.org"])
    }

    private func onlyAccount(_ account: AccountJSON, sourceLocation: SourceLocation = #_sourceLocation) throws -> Account {
        let directory = try AccountsConfigLoader.parse(document(account), source: testSource)
        #expect(directory.accounts.count == 1, sourceLocation: sourceLocation)
        return try #require(directory.accounts.first, sourceLocation: sourceLocation)
    }
}
