import Foundation
import Testing
import Accounts

@Suite("Accounts from the environment")
struct EnvironmentAccountTests {
    // MARK: XOAUTH2_PROXY_ACCOUNTS

    @Test("XOAUTH2_PROXY_ACCOUNTS takes every document form", arguments: [
        document(.gmail(), .outlook()),
        "[" + AccountJSON.gmail().json + ", " + AccountJSON.outlook().json + "]",
    ])
    func environmentDocument(json: String) throws {
        let loaded = try AccountSourceLoader.load(AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS": json]))
        #expect(loaded.directory.accounts.map(\.accountID) == ["sales", "support"])
        #expect(loaded.origins["support"] == "env XOAUTH2_PROXY_ACCOUNTS (account 2)")
        #expect(loaded.watchPaths.isEmpty)
    }

    @Test("XOAUTH2_PROXY_ACCOUNTS may hold a single account object")
    func environmentSingleObject() throws {
        let loaded = try AccountSourceLoader.load(AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS": AccountJSON.gmail().json]))
        #expect(loaded.directory.accounts.map(\.accountID) == ["sales"])
        #expect(loaded.origins["sales"] == "env XOAUTH2_PROXY_ACCOUNTS")
    }

    @Test("errors in XOAUTH2_PROXY_ACCOUNTS are labelled with the variable")
    func environmentDocumentErrors() throws {
        let json = document(.other, AccountJSON.gmail().setting("smtp_port", raw: "0"))
        let error = try #require(sourceError(AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS": json])))
        #expect(error.source == "env XOAUTH2_PROXY_ACCOUNTS")
        #expect(error.index == 1)
        #expect(error.field == "smtp_port")

        let syntax = try #require(sourceError(AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS": "{\"accounts\": [" + Secrets.password])))
        #expect(syntax.source == "env XOAUTH2_PROXY_ACCOUNTS")
        #expect(syntax.message.hasPrefix("invalid JSON: "))
    }

    @Test("a relative tls_ca_file in XOAUTH2_PROXY_ACCOUNTS resolves against the working directory")
    func environmentRelativeCAFile() throws {
        let name = "missing-ca-\(UUID().uuidString).pem"
        let json = AccountJSON.custom().setting("tls_ca_file", string: name).json
        let error = try #require(sourceError(AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS": json])))
        #expect(error.field == "tls_ca_file")
        #expect(error.message.contains(FileManager.default.currentDirectoryPath + "/" + name))
    }

    @Test("XOAUTH2_PROXY_ACCOUNTS_FILE reads the document from a file; relative paths in it resolve next to it")
    func environmentDocumentFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try directory.writing(Secrets.password + "\n", to: "sales-password")
        let file = try directory.writing(
            document(AccountJSON.gmail().setting("password", raw: "{\"file\": \"sales-password\"}")) + "\n", to: "accounts.json"
        )

        let loaded = try AccountSourceLoader.load(AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS_FILE": file.path]))
        #expect(loaded.directory.accounts.first?.password == Secrets.password)
        #expect(loaded.origins["sales"] == file.path + " (account 1)")
        #expect(loaded.watchPaths == [file.path, directory.appendingPathComponent("sales-password").path])
    }

    @Test("XOAUTH2_PROXY_ACCOUNTS_FILE problems")
    func environmentDocumentFileProblems() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing.json").path

        let unreadable = try #require(sourceError(AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS_FILE": missing])))
        #expect(unreadable.source == "env XOAUTH2_PROXY_ACCOUNTS_FILE")
        #expect(unreadable.message == "cannot read \"\(missing)\": No such file or directory")

        let both = try #require(sourceError(AccountSources(environment: [
            "XOAUTH2_PROXY_ACCOUNTS_FILE": missing, "XOAUTH2_PROXY_ACCOUNTS": document(.gmail()),
        ])))
        #expect(both.message.contains("XOAUTH2_PROXY_ACCOUNTS and XOAUTH2_PROXY_ACCOUNTS_FILE are both set"))
    }

    // MARK: XOAUTH2_PROXY_ACCOUNT_*

    @Test("an account from XOAUTH2_PROXY_ACCOUNT_* equals the same account written as JSON")
    func singleAccount() throws {
        let loaded = try AccountSourceLoader.load(AccountSources(environment: accountEnvironment(email: "sales@example.com")))
        let json = try AccountsConfigLoader.parse(document(.gmail(id: nil)), source: testSource)
        #expect(loaded.directory.accounts == json.accounts)
        #expect(loaded.origins == ["sales@example.com": "env XOAUTH2_PROXY_ACCOUNT_*"])
    }

    @Test("every field has a variable; integers are parsed from text")
    func everyField() throws {
        var environment = accountEnvironment()
        environment["XOAUTH2_PROXY_ACCOUNT_ACCOUNT_ID"] = "env-account"
        environment["XOAUTH2_PROXY_ACCOUNT_PROVIDER"] = "custom"
        environment["XOAUTH2_PROXY_ACCOUNT_TOKEN_URL"] = "https://auth.example.org/{tenant}/token"
        environment["XOAUTH2_PROXY_ACCOUNT_TENANT"] = "contoso"
        environment["XOAUTH2_PROXY_ACCOUNT_SCOPE"] = "smtp offline"
        environment["XOAUTH2_PROXY_ACCOUNT_SMTP_HOST"] = "127.0.0.1"
        environment["XOAUTH2_PROXY_ACCOUNT_SMTP_PORT"] = "2525"
        environment["XOAUTH2_PROXY_ACCOUNT_SMTP_TLS"] = "none"
        environment["XOAUTH2_PROXY_ACCOUNT_MAX_CONNECTIONS"] = "3"
        environment["XOAUTH2_PROXY_ACCOUNT_MAX_MESSAGES_PER_CONNECTION"] = "40"
        environment["XOAUTH2_PROXY_ACCOUNT_MAX_MESSAGES_PER_MINUTE"] = "0"
        environment["XOAUTH2_PROXY_ACCOUNT_MAX_MESSAGES_PER_HOUR"] = "100"
        environment["XOAUTH2_PROXY_ACCOUNT_MAX_MESSAGES_PER_DAY"] = "1000"
        environment["XOAUTH2_PROXY_ACCOUNT_MAX_RECIPIENTS_PER_DAY"] = "5000"
        environment["XOAUTH2_PROXY_ACCOUNT_MAX_CONCURRENT_MESSAGES"] = "2"

        let account = try #require(try AccountSourceLoader.load(AccountSources(environment: environment)).directory.accounts.first)
        #expect(account.accountID == "env-account")
        #expect(account.tokenURL == "https://auth.example.org/contoso/token")
        #expect(account.scope == "smtp offline")
        #expect(account.smtpHost == "127.0.0.1")
        #expect(account.smtpPort == 2525)
        #expect(account.smtpTLS == .none)
        #expect(account.maxConnections == 3)
        #expect(account.maxMessagesPerConnection == 40)
        #expect(account.limits == AccountLimits(messagesPerMinute: 0, messagesPerHour: 100, messagesPerDay: 1000,
                                                recipientsPerDay: 5000, concurrentMessages: 2))
    }

    @Test("an integer variable must be a whole number; the error names the variable", arguments: [
        "25x", "587.0", " 587", "+587", "", "0x24b",
    ])
    func integerVariable(text: String) throws {
        var environment = accountEnvironment()
        environment["XOAUTH2_PROXY_ACCOUNT_SMTP_PORT"] = text
        let error = try #require(sourceError(AccountSources(environment: environment)))
        #expect(error.source == "env XOAUTH2_PROXY_ACCOUNT_*")
        #expect(error.field == "XOAUTH2_PROXY_ACCOUNT_SMTP_PORT")
        #expect(error.accountID == "env@example.com")
        #expect(error.message == "must be a whole number (digits only)")
    }

    @Test("validation errors from decoding name the variable", arguments: [
        ("XOAUTH2_PROXY_ACCOUNT_SMTP_PORT", "70000", "must be an integer between 1 and 65535"),
        ("XOAUTH2_PROXY_ACCOUNT_PROVIDER", "gmial", "must be one of"),
        ("XOAUTH2_PROXY_ACCOUNT_REFRESH_TOKEN", Secrets.refreshToken + "\n", "control characters"),
        ("XOAUTH2_PROXY_ACCOUNT_PASSWORD", "", "must not be empty"),
        ("XOAUTH2_PROXY_ACCOUNT_MAX_MESSAGES_PER_MINUTE", "-1", "from 0 (unlimited)"),
    ])
    func decodingErrors(name: String, value: String, expected: String) throws {
        var environment = accountEnvironment()
        environment[name] = value
        let error = try #require(sourceError(AccountSources(environment: environment)))
        #expect(error.source == "env XOAUTH2_PROXY_ACCOUNT_*")
        #expect(error.field == name)
        #expect(error.index == nil)
        #expect(error.message.contains(expected), "message was: \(error.message)")
    }

    @Test("any XOAUTH2_PROXY_ACCOUNT_* variable makes the email required")
    func emailRequired() throws {
        let error = try #require(sourceError(AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNT_PASSWORD": Secrets.password])))
        #expect(error.field == "XOAUTH2_PROXY_ACCOUNT_EMAIL")
        #expect(error.message == "is required")
    }

    @Test("an unknown variable is an error with a suggestion", arguments: [
        ("XOAUTH2_PROXY_ACCOUNT_SMTP_PROT", "XOAUTH2_PROXY_ACCOUNT_SMTP_PORT"),
        ("XOAUTH2_PROXY_ACCOUNT_PASWORD_FILE", "XOAUTH2_PROXY_ACCOUNT_PASSWORD_FILE"),
        ("XOAUTH2_PROXY_ACCOUNT_email", "XOAUTH2_PROXY_ACCOUNT_EMAIL"),
        ("XOAUTH2_PROXY_ACCOUNT_TLS_CAFILE", "XOAUTH2_PROXY_ACCOUNT_TLS_CA_FILE"),
        ("XOAUTH2_PROXY_ACCOUNT_FOO", nil),
    ] as [(String, String?)])
    func unknownVariable(name: String, suggestion: String?) throws {
        var environment = accountEnvironment()
        environment[name] = Secrets.otherPassword
        let error = try #require(sourceError(AccountSources(environment: environment)))
        #expect(error.source == "env XOAUTH2_PROXY_ACCOUNT_*")
        #expect(error.field == name)
        #expect(error.message == "unknown variable" + (suggestion.map { " (did you mean \($0)?)" } ?? ""))
    }

    @Test("_FILE variables read the value from a file, trimming one trailing line break")
    func fileVariables() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let token = try directory.writing(Secrets.refreshToken + "\r\n", to: "refresh-token")
        let password = try directory.writing(Secrets.password + "\n", to: "password")
        let port = try directory.writing("2525\n", to: "port")
        let ca = try directory.writing(samplePEM, to: "ca.pem")
        let caPath = try directory.writing(ca.path + "\n", to: "ca-path")
        var environment = accountEnvironment()
        environment["XOAUTH2_PROXY_ACCOUNT_REFRESH_TOKEN"] = nil
        environment["XOAUTH2_PROXY_ACCOUNT_REFRESH_TOKEN_FILE"] = token.path
        environment["XOAUTH2_PROXY_ACCOUNT_PASSWORD"] = nil
        environment["XOAUTH2_PROXY_ACCOUNT_PASSWORD_FILE"] = password.path
        environment["XOAUTH2_PROXY_ACCOUNT_SMTP_PORT_FILE"] = port.path
        environment["XOAUTH2_PROXY_ACCOUNT_TLS_CA_FILE_FILE"] = caPath.path

        let loaded = try AccountSourceLoader.load(AccountSources(environment: environment))
        let account = try #require(loaded.directory.accounts.first)
        #expect(account.refreshToken == Secrets.refreshToken)
        #expect(account.password == Secrets.password)
        #expect(account.smtpPort == 2525)
        #expect(account.tlsCAFile == ca.path)
        #expect(loaded.watchPaths == [ca, caPath, password, port, token].map(\.path).sorted())
    }

    @Test("XOAUTH2_PROXY_ACCOUNT_TLS_CA_FILE is the plain form of tls_ca_file")
    func tlsCAFileVariable() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ca = try directory.writing(samplePEM, to: "ca.pem")
        var environment = accountEnvironment()
        environment["XOAUTH2_PROXY_ACCOUNT_TLS_CA_FILE"] = ca.path

        let loaded = try AccountSourceLoader.load(AccountSources(environment: environment))
        #expect(loaded.directory.accounts.first?.tlsCAFile == ca.path)
        #expect(loaded.watchPaths == [ca.path])
    }

    @Test("only one trailing line break is trimmed; the rest is content the field rules see")
    func onlyOneLineBreakTrimmed() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let token = try directory.writing(Secrets.refreshToken + "\n\n", to: "refresh-token")
        var environment = accountEnvironment()
        environment["XOAUTH2_PROXY_ACCOUNT_REFRESH_TOKEN"] = nil
        environment["XOAUTH2_PROXY_ACCOUNT_REFRESH_TOKEN_FILE"] = token.path

        let error = try #require(sourceError(AccountSources(environment: environment)))
        #expect(error.field == "XOAUTH2_PROXY_ACCOUNT_REFRESH_TOKEN_FILE")
        #expect(error.message.contains("control characters"))
    }

    @Test("_FILE problems name the variable and the path, never the content")
    func fileVariableProblems() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing").path
        let empty = try directory.writing("\n", to: "empty")
        let notANumber = try directory.writing(Secrets.otherPassword + "\n", to: "port")

        var environment = accountEnvironment()
        environment["XOAUTH2_PROXY_ACCOUNT_PASSWORD"] = nil
        environment["XOAUTH2_PROXY_ACCOUNT_PASSWORD_FILE"] = missing
        let unreadable = try #require(sourceError(AccountSources(environment: environment)))
        #expect(unreadable.field == "XOAUTH2_PROXY_ACCOUNT_PASSWORD_FILE")
        #expect(unreadable.accountID == "env@example.com")
        #expect(unreadable.message == "cannot read \"\(missing)\": No such file or directory")

        environment["XOAUTH2_PROXY_ACCOUNT_PASSWORD_FILE"] = empty.path
        let emptyError = try #require(sourceError(AccountSources(environment: environment)))
        #expect(emptyError.message == "\"\(empty.path)\" is empty")

        environment["XOAUTH2_PROXY_ACCOUNT_PASSWORD_FILE"] = nil
        environment["XOAUTH2_PROXY_ACCOUNT_PASSWORD"] = Secrets.password
        environment["XOAUTH2_PROXY_ACCOUNT_SMTP_PORT_FILE"] = notANumber.path
        let notInteger = try #require(sourceError(AccountSources(environment: environment)))
        #expect(notInteger.field == "XOAUTH2_PROXY_ACCOUNT_SMTP_PORT_FILE")
        #expect(notInteger.message.contains(notANumber.path))
        #expect(notInteger.message.contains("whole number"))
    }

    @Test("a field set both plainly and through _FILE is an error naming both variables")
    func plainAndFile() throws {
        var environment = accountEnvironment()
        environment["XOAUTH2_PROXY_ACCOUNT_CLIENT_SECRET_FILE"] = "/run/secrets/client-secret"
        let error = try #require(sourceError(AccountSources(environment: environment)))
        #expect(error.field == "XOAUTH2_PROXY_ACCOUNT_CLIENT_SECRET")
        #expect(error.message == "is set together with XOAUTH2_PROXY_ACCOUNT_CLIENT_SECRET_FILE; set only one of them")
    }

    @Test("variables that only share the XOAUTH2_PROXY_ prefix are not account fields")
    func otherVariablesIgnored() throws {
        var environment = accountEnvironment()
        environment["XOAUTH2_PROXY_PORT"] = "2525"
        environment["XOAUTH2_PROXY_ACCOUNTS_DIR"] = "/etc/accounts"
        environment["XOAUTH2_PROXY_CONFIG"] = "/etc/accounts.json"
        let loaded = try AccountSourceLoader.load(AccountSources(environment: environment))
        #expect(loaded.directory.count == 1)
    }
}
