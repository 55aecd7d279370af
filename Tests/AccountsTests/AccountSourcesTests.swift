import TestSupport
import Foundation
import Testing
import Accounts

@Suite("Combining account sources")
struct AccountSourcesTests {
    @Test("no source at all is an error listing the options")
    func noSource() throws {
        let error = try #require(sourceError(AccountSources(environment: ["XOAUTH2_PROXY_PORT": "2525", "HOME": "/root"])))
        #expect(error.source == "configuration")
        #expect(error.field == nil)
        for option in ["--config", "--accounts-dir", "XOAUTH2_PROXY_ACCOUNTS", "XOAUTH2_PROXY_ACCOUNT_EMAIL"] {
            #expect(error.message.contains(option))
        }
    }

    @Test("all sources combine, in a fixed order, with their origins")
    func allSources() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try directory.writing(document(.gmail()), to: "accounts.json")
        let secret = directory.appendingPathComponent("secret")
        try FileManager.default.createDirectory(at: secret, withIntermediateDirectories: false)
        _ = try secret.writing(AccountJSON.outlook().json, to: "support.json")
        var environment = accountEnvironment()
        environment["XOAUTH2_PROXY_ACCOUNTS"] = document(.other)

        let loaded = try AccountSourceLoader.load(AccountSources(
            configFile: config.path, accountsDirectory: secret.path, environment: environment
        ))
        #expect(loaded.directory.accounts.map(\.accountID) == ["sales", "support", "other", "env@example.com"])
        #expect(loaded.origins == [
            "sales": config.path + " (account 1)",
            "support": secret.appendingPathComponent("support.json").path,
            "other": "env XOAUTH2_PROXY_ACCOUNTS (account 1)",
            "env@example.com": "env XOAUTH2_PROXY_ACCOUNT_*",
        ])
        #expect(loaded.directory.account(forEmail: "ENV@example.com")?.accountID == "env@example.com")
    }

    @Test("the same email in the config file and a Secret key names both places")
    func duplicateEmailAcrossSources() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try directory.writing(document(.gmail(), .outlook()), to: "accounts.json")
        let secret = directory.appendingPathComponent("secret")
        try FileManager.default.createDirectory(at: secret, withIntermediateDirectories: false)
        let key = try secret.writing(AccountJSON.other.setting("email", string: "Support@Example.com").json, to: "sales.json")

        let error = try #require(sourceError(AccountSources(configFile: config.path, accountsDirectory: secret.path)))
        #expect(error.source == key.path)
        #expect(error.accountID == "other")
        #expect(error.field == "email")
        #expect(error.message == "\"Support@Example.com\" is defined in \(config.path) (account 2) and in \(key.path) (emails match case-insensitively)")
    }

    @Test("the same account_id in XOAUTH2_PROXY_ACCOUNTS and the variables names both, and the variable")
    func duplicateIDAcrossEnvironmentSources() throws {
        var environment = accountEnvironment(email: "another@example.com")
        environment["XOAUTH2_PROXY_ACCOUNT_ACCOUNT_ID"] = "sales"
        environment["XOAUTH2_PROXY_ACCOUNTS"] = AccountJSON.gmail().json

        let error = try #require(sourceError(AccountSources(environment: environment)))
        #expect(error.source == "env XOAUTH2_PROXY_ACCOUNT_*")
        #expect(error.field == "XOAUTH2_PROXY_ACCOUNT_ACCOUNT_ID")
        #expect(error.message == "account_id \"sales\" is defined in env XOAUTH2_PROXY_ACCOUNTS and in env XOAUTH2_PROXY_ACCOUNT_*")
    }

    @Test("a duplicate inside one file keeps the single-file message")
    func duplicateWithinFile() throws {
        let error = try #require(sourceError(AccountSources(environment: [
            "XOAUTH2_PROXY_ACCOUNTS": document(.gmail(), .gmail(id: "sales-2", email: "SALES@example.com")),
        ])))
        #expect(error.index == 1)
        #expect(error.message.contains("already used by account \"sales\" (#1)"))
    }

    @Test("watchPaths: every file read and the directory; absolute, deduplicated, sorted")
    func watchPaths() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ca = try directory.writing(samplePEM, to: "ca.pem")
        let password = try directory.writing(Secrets.password, to: "password")
        // Two accounts share the CA file and the password file: each path is listed once.
        let config = try directory.writing(document(
            AccountJSON.custom().setting("tls_ca_file", string: "ca.pem").setting("password", raw: "{\"file\": \"password\"}"),
            AccountJSON.other.setting("tls_ca_file", string: ca.path).setting("password", raw: "{\"file\": \"\(password.path)\"}")
        ), to: "accounts.json")
        let secret = directory.appendingPathComponent("secret")
        try FileManager.default.createDirectory(at: secret, withIntermediateDirectories: false)
        let key = try secret.writing(AccountJSON.outlook().json, to: "support.json")

        let loaded = try AccountSourceLoader.load(AccountSources(configFile: config.path, accountsDirectory: secret.path))
        #expect(loaded.watchPaths == [config.path, ca.path, password.path, secret.path, key.path].sorted())
        #expect(loaded.watchPaths.allSatisfy { $0.hasPrefix("/") })
    }

    @Test("the fingerprint is stable, and changes with any file or variable that went in")
    func fingerprint() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try directory.writing(Secrets.password + "\n", to: "password")
        let config = try directory.writing(document(AccountJSON.gmail().setting("password", raw: "{\"file\": \"password\"}")), to: "accounts.json")
        let sources = AccountSources(configFile: config.path, environment: accountEnvironment())

        let first = try AccountSourceLoader.load(sources)
        #expect(try AccountSourceLoader.load(sources).fingerprint == first.fingerprint)

        // Same length, different content: a referenced file.
        _ = try directory.writing(Secrets.otherPassword.prefix(Secrets.password.count) + "\n", to: "password")
        let afterPassword = try AccountSourceLoader.load(sources)
        #expect(afterPassword.fingerprint != first.fingerprint)
        #expect(afterPassword.watchPaths == first.watchPaths)

        // The config file itself (a whitespace-only change still counts).
        _ = try directory.writing(document(AccountJSON.gmail().setting("password", raw: "{\"file\": \"password\"}")) + "\n", to: "accounts.json")
        let afterConfig = try AccountSourceLoader.load(sources)
        #expect(afterConfig.fingerprint != afterPassword.fingerprint)

        // An environment value.
        var changed = sources
        changed.environment["XOAUTH2_PROXY_ACCOUNT_SMTP_PORT"] = "465"
        #expect(try AccountSourceLoader.load(changed).fingerprint != afterConfig.fingerprint)

        // Unrelated variables are not inputs.
        var unrelated = sources
        unrelated.environment["XOAUTH2_PROXY_PORT"] = "2525"
        #expect(try AccountSourceLoader.load(unrelated).fingerprint == afterConfig.fingerprint)
    }

    @Test("renaming a Secret key with unchanged content changes the fingerprint")
    func fingerprintCoversNames() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var mount = SecretMount(root: root)
        try mount.update(["a.json": AccountJSON.gmail().json])
        let before = try AccountSourceLoader.load(AccountSources(accountsDirectory: mount.path))
        try mount.update(["b.json": AccountJSON.gmail().json])
        let after = try AccountSourceLoader.load(AccountSources(accountsDirectory: mount.path))
        #expect(after.fingerprint != before.fingerprint)
        #expect(after.watchPaths == [root.path, root.appendingPathComponent("b.json").path])
    }

    @Test("no secret appears in any error from any source")
    func noSecretsAnywhere() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Secret values put where they do not belong, in every kind of source. (Names, i.e.
        // JSON keys and variable names, are shown in errors by design.)
        _ = try directory.writing(Secrets.refreshToken, to: "token")
        let cases: [AccountSources] = [
            AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS": Secrets.refreshToken]),
            AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS": "{\"accounts\": [" + jsonString(Secrets.password) + "]}"]),
            AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNT_SMTP_PROT": Secrets.clientSecret]),
            AccountSources(environment: accountEnvironment().merging(["XOAUTH2_PROXY_ACCOUNT_SMTP_PORT": Secrets.password]) { $1 }),
            AccountSources(environment: accountEnvironment().merging(["XOAUTH2_PROXY_ACCOUNT_SMTP_HOST": Secrets.password + ":25x"]) { $1 }),
            AccountSources(environment: accountEnvironment().merging(["XOAUTH2_PROXY_ACCOUNT_SCOPE": Secrets.clientSecret + "\n"]) { $1 }),
            AccountSources(environment: accountEnvironment().merging([
                "XOAUTH2_PROXY_ACCOUNT_MAX_CONNECTIONS_FILE": directory.appendingPathComponent("token").path,
            ]) { $1 }),
            AccountSources(environment: accountEnvironment().merging(["XOAUTH2_PROXY_ACCOUNT_TOKEN_URL": "http://" + Secrets.password]) { $1 }),
            AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS": AccountJSON.gmail().setting("smtp_tls", raw: "{\"file\": \"\(directory.path)/token\"}").json]),
        ]
        for sources in cases {
            let error = try #require(sourceError(sources))
            #expect(!error.description.isEmpty)
        }
    }
}
