import Foundation
import Testing
import Accounts

/// Distinctive secret values: if any of these shows up in an error or a description, a
/// secret leaked. Two sets, so the "other" account's secrets are checked too.
enum Secrets {
    static let clientSecret = "CS-leakcheck-9f81c2"
    static let refreshToken = "1//RT-leakcheck-0a77e3"
    static let password = "PW-leakcheck-5d2b19"
    static let otherClientSecret = "CS-other-leakcheck-41aa"
    static let otherRefreshToken = "1//RT-other-leakcheck-93bd"
    static let otherPassword = "PW-other-leakcheck-77c0"

    static let all = [clientSecret, refreshToken, password, otherClientSecret, otherRefreshToken, otherPassword]
}

/// JSON-encodes a string for splicing into a test document.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// An account object as raw JSON members, so tests can put any JSON (wrong types included)
/// into any field.
struct AccountJSON: Sendable {
    struct Member: Sendable {
        var key: String
        var rawValue: String
    }

    var members: [Member]

    static func gmail(id: String? = "sales", email: String = "sales@example.com") -> AccountJSON {
        var members: [Member] = []
        if let id { members.append(Member(key: "account_id", rawValue: jsonString(id))) }
        members += [
            Member(key: "email", rawValue: jsonString(email)),
            Member(key: "provider", rawValue: jsonString("gmail")),
            Member(key: "client_id", rawValue: jsonString("client-id-123.apps.googleusercontent.com")),
            Member(key: "client_secret", rawValue: jsonString(Secrets.clientSecret)),
            Member(key: "refresh_token", rawValue: jsonString(Secrets.refreshToken)),
            Member(key: "password", rawValue: jsonString(Secrets.password)),
        ]
        return AccountJSON(members: members)
    }

    static func outlook(id: String? = "support", email: String = "support@example.com") -> AccountJSON {
        gmail(id: id, email: email).setting("provider", string: "outlook").removing("client_secret")
    }

    static func custom(id: String? = "ops", email: String = "ops@example.org") -> AccountJSON {
        gmail(id: id, email: email)
            .setting("provider", string: "custom")
            .setting("token_url", string: "https://auth.example.org/oauth2/token")
            .setting("smtp_host", string: "mail.example.org")
    }

    /// A second, valid account with its own secrets, used to check indexes and leaks.
    static let other = AccountJSON.gmail(id: "other", email: "other@example.com")
        .setting("client_secret", string: Secrets.otherClientSecret)
        .setting("refresh_token", string: Secrets.otherRefreshToken)
        .setting("password", string: Secrets.otherPassword)

    func setting(_ key: String, raw: String) -> AccountJSON {
        var copy = self
        if let position = copy.members.firstIndex(where: { $0.key == key }) {
            copy.members[position].rawValue = raw
        } else {
            copy.members.append(Member(key: key, rawValue: raw))
        }
        return copy
    }

    func setting(_ key: String, string: String) -> AccountJSON {
        setting(key, raw: jsonString(string))
    }

    func removing(_ key: String) -> AccountJSON {
        var copy = self
        copy.members.removeAll { $0.key == key }
        return copy
    }

    var json: String {
        "{" + members.map { "\(jsonString($0.key)): \($0.rawValue)" }.joined(separator: ", ") + "}"
    }
}

/// `{"accounts": [...]}` around the given accounts.
func document(_ accounts: AccountJSON...) -> String {
    document(accounts)
}

func document(_ accounts: [AccountJSON]) -> String {
    "{\"accounts\": [\n" + accounts.map(\.json).joined(separator: ",\n") + "\n]}"
}

let testSource = "test-accounts.json"

/// Parses and returns the error; records a failure if parsing succeeded.
func parseError(_ json: String, source: String = testSource, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        let directory = try AccountsConfigLoader.parse(json, source: source)
        Issue.record("expected a ConfigError, got \(directory.count) account(s)", sourceLocation: sourceLocation)
        return nil
    } catch {
        expectNoSecrets(in: error, sourceLocation: sourceLocation)
        return error
    }
}

func expectNoSecrets(in error: ConfigError, sourceLocation: SourceLocation = #_sourceLocation) {
    for secret in Secrets.all {
        #expect(!error.description.contains(secret), "secret leaked into description: \(error.description)", sourceLocation: sourceLocation)
        #expect(!error.message.contains(secret), sourceLocation: sourceLocation)
        #expect(!(error.errorDescription ?? "").contains(secret), sourceLocation: sourceLocation)
        #expect(!error.localizedDescription.contains(secret), sourceLocation: sourceLocation)
    }
}

/// A fresh directory under the system temp directory, removed by the caller via `defer`.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("accounts-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Any syntactically plausible PEM certificate block; only the marker is inspected at load.
let samplePEM = """
-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUTestOnlyNotARealCertificateAAAAAAAAAAwCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----

"""
