import TestSupport
import Foundation
import Testing
import Accounts

@Suite("{\"file\": …} values in JSON")
struct FileReferenceTests {
    private func reference(_ path: String) -> String {
        "{\"file\": \(jsonString(path))}"
    }

    @Test("string fields read from files; relative paths resolve next to the JSON file")
    func stringFields() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let secrets = directory.appendingPathComponent("secrets")
        try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: false)
        _ = try secrets.writing(Secrets.clientSecret + "\n", to: "client-secret")
        _ = try secrets.writing(Secrets.refreshToken + "\r\n", to: "refresh-token")
        let password = try directory.writing(Secrets.password, to: "password")
        let account = AccountJSON.gmail()
            .setting("client_secret", raw: reference("secrets/client-secret"))
            .setting("refresh_token", raw: reference("secrets/refresh-token"))
            .setting("password", raw: reference(password.path))
        let file = try directory.writing(document(account), to: "accounts.json")

        // The existing entry point understands file references too.
        let loaded = try #require(try AccountsConfigLoader.load(contentsOf: file.path).accounts.first)
        #expect(loaded.clientSecret == Secrets.clientSecret)
        #expect(loaded.refreshToken == Secrets.refreshToken)
        #expect(loaded.password == Secrets.password)

        let sources = try AccountSourceLoader.load(AccountSources(configFile: file.path))
        #expect(sources.directory.accounts.first == loaded)
        #expect(sources.watchPaths == [
            file.path, password.path,
            secrets.appendingPathComponent("client-secret").path, secrets.appendingPathComponent("refresh-token").path,
        ])
    }

    @Test("email and account_id may come from files, and then label errors")
    func identityFromFiles() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try directory.writing("sales@example.com\n", to: "email")
        let account = AccountJSON.gmail(id: nil)
            .setting("email", raw: reference("email"))
            .setting("smtp_port", raw: "0")
        let file = try directory.writing(document(account), to: "accounts.json")

        let error = try #require(sourceError(AccountSources(configFile: file.path)))
        #expect(error.accountID == "sales@example.com")
        #expect(error.field == "smtp_port")
    }

    @Test("integer fields read from files are parsed strictly")
    func integerFields() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try directory.writing("2525\n", to: "port")
        _ = try directory.writing("25.0\n", to: "bad-port")
        _ = try directory.writing("70000", to: "big-port")
        let good = try directory.writing(document(AccountJSON.gmail().setting("smtp_port", raw: reference("port"))), to: "good.json")
        #expect(try AccountSourceLoader.load(AccountSources(configFile: good.path)).directory.accounts.first?.smtpPort == 2525)

        let bad = try directory.writing(document(AccountJSON.gmail().setting("smtp_port", raw: reference("bad-port"))), to: "bad.json")
        let notInteger = try #require(sourceError(AccountSources(configFile: bad.path)))
        #expect(notInteger.field == "smtp_port")
        #expect(notInteger.message == "\"\(directory.appendingPathComponent("bad-port").path)\" must hold a whole number (and at most one trailing line break)")

        let big = try directory.writing(document(AccountJSON.gmail().setting("smtp_port", raw: reference("big-port"))), to: "big.json")
        let outOfRange = try #require(sourceError(AccountSources(configFile: big.path)))
        #expect(outOfRange.message == "must be an integer between 1 and 65535")
    }

    @Test("a missing file: the error names account, field and path, never content")
    func missingFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let account = AccountJSON.gmail().setting("refresh_token", raw: reference("tokens/sales"))
        let file = try directory.writing(document(.other, account), to: "accounts.json")

        let error = try #require(sourceError(AccountSources(configFile: file.path)))
        let path = directory.appendingPathComponent("tokens/sales").path
        #expect(error.source == file.path)
        #expect(error.accountID == "sales")
        #expect(error.index == 1)
        #expect(error.field == "refresh_token")
        #expect(error.message == "cannot read \"\(path)\": No such file or directory")
    }

    @Test("a file whose content breaks a rule is reported without its content")
    func badContent() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try directory.writing(" " + Secrets.clientSecret + "\n", to: "client-secret")
        try Data([0x50, 0x57, 0xFF, 0x0A]).write(to: directory.appendingPathComponent("latin1"))

        let spaced = try directory.writing(document(AccountJSON.gmail().setting("client_secret", raw: reference("client-secret"))), to: "a.json")
        let spacedError = try #require(sourceError(AccountSources(configFile: spaced.path)))
        #expect(spacedError.field == "client_secret")
        #expect(spacedError.message.contains("whitespace"))

        let latin1 = try directory.writing(document(AccountJSON.gmail().setting("password", raw: reference("latin1"))), to: "b.json")
        let latin1Error = try #require(sourceError(AccountSources(configFile: latin1.path)))
        #expect(latin1Error.message == "\"\(directory.appendingPathComponent("latin1").path)\" is not UTF-8 text")
    }

    @Test("malformed file references", arguments: [
        ("{\"file\": \"x\", \"mode\": \"text\"}", "a file reference must have only the \"file\" key"),
        ("{\"file\": 5}", "\"file\" must be a non-empty string"),
        ("{\"file\": \"\"}", "\"file\" must be a non-empty string"),
        ("{\"path\": \"x\"}", "must be a string, got object (to read the value from a file, write {\"file\": \"/path\"})"),
    ])
    func malformed(raw: String, expected: String) throws {
        let json = document(AccountJSON.gmail().setting("refresh_token", raw: raw))
        let error = try #require(parseError(json))
        #expect(error.field == "refresh_token")
        #expect(error.message.hasPrefix(expected), "message was: \(error.message)")
    }

    @Test("unknown fields are still reported first, even when they hold a file reference")
    func unknownFieldFirst() throws {
        let json = document(AccountJSON.gmail().setting("refresh_tokn", raw: reference("/nonexistent")))
        let error = try #require(parseError(json))
        #expect(error.field == "refresh_tokn")
        #expect(error.message == "unknown field (did you mean \"refresh_token\"?)")
    }

    @Test("in XOAUTH2_PROXY_ACCOUNTS a relative file reference resolves against the working directory")
    func relativeInEnvironment() throws {
        let name = "missing-\(UUID().uuidString)"
        let json = AccountJSON.gmail().setting("password", raw: reference(name)).json
        let error = try #require(sourceError(AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS": json])))
        #expect(error.field == "password")
        #expect(error.message == "cannot read \"\(FileManager.default.currentDirectoryPath)/\(name)\": No such file or directory")
    }

    @Test("in a Secret key file a relative reference resolves against the mount, through ..data")
    func relativeInSecretMount() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var mount = SecretMount(root: root)
        try mount.update([
            "sales.json": AccountJSON.gmail().setting("refresh_token", raw: reference("sales-refresh-token")).json,
            "sales-refresh-token": Secrets.refreshToken + "\n",
        ])

        let loaded = try AccountSourceLoader.load(AccountSources(accountsDirectory: mount.path))
        #expect(loaded.directory.accounts.first?.refreshToken == Secrets.refreshToken)
        #expect(loaded.watchPaths == [root.path, root.appendingPathComponent("sales-refresh-token").path,
                                      root.appendingPathComponent("sales.json").path])
    }
}
