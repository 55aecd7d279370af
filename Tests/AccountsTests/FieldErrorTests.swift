import Foundation
import Testing
import Accounts

/// One invalid account, placed second in the file (after a valid one) so that the reported
/// index must be 1 and the other account's secrets are in the input too.
struct FieldErrorCase: Sendable, CustomTestStringConvertible {
    var name: String
    var account: AccountJSON
    var field: String?
    var accountID: String?
    var messageContains: String

    var testDescription: String { name }
}

private let gmail = AccountJSON.gmail()
private let outlook = AccountJSON.outlook()
private let custom = AccountJSON.custom()

private let fieldErrorCases: [FieldErrorCase] = limitFieldErrorCases + [
    // Required fields.
    .init(name: "missing email", account: gmail.removing("email"), field: "email", accountID: "sales", messageContains: "is required"),
    .init(name: "empty email", account: gmail.setting("email", string: ""), field: "email", accountID: "sales", messageContains: "must not be empty"),
    .init(name: "missing provider", account: gmail.removing("provider"), field: "provider", accountID: "sales", messageContains: "is required"),
    .init(name: "empty provider", account: gmail.setting("provider", string: ""), field: "provider", accountID: "sales", messageContains: "must not be empty"),
    .init(name: "unknown provider", account: gmail.setting("provider", string: "gmial"), field: "provider", accountID: "sales", messageContains: "must be one of \"gmail\", \"outlook\", \"custom\""),
    .init(name: "provider in capitals", account: gmail.setting("provider", string: "Gmail"), field: "provider", accountID: "sales", messageContains: "must be one of"),
    .init(name: "missing client_id", account: gmail.removing("client_id"), field: "client_id", accountID: "sales", messageContains: "is required"),
    .init(name: "empty client_id", account: gmail.setting("client_id", string: ""), field: "client_id", accountID: "sales", messageContains: "must not be empty"),
    .init(name: "gmail without client_secret", account: gmail.removing("client_secret"), field: "client_secret", accountID: "sales", messageContains: "is required for provider \"gmail\""),
    .init(name: "custom without client_secret", account: custom.removing("client_secret"), field: "client_secret", accountID: "ops", messageContains: "is required for provider \"custom\""),
    .init(name: "empty client_secret", account: gmail.setting("client_secret", string: ""), field: "client_secret", accountID: "sales", messageContains: "must not be empty"),
    .init(name: "empty client_secret on outlook", account: outlook.setting("client_secret", string: ""), field: "client_secret", accountID: "support", messageContains: "must not be empty"),
    .init(name: "missing refresh_token", account: gmail.removing("refresh_token"), field: "refresh_token", accountID: "sales", messageContains: "is required"),
    .init(name: "empty refresh_token", account: gmail.setting("refresh_token", string: ""), field: "refresh_token", accountID: "sales", messageContains: "must not be empty"),
    .init(name: "refresh_token with a trailing newline", account: gmail.setting("refresh_token", string: Secrets.refreshToken + "\n"), field: "refresh_token", accountID: "sales", messageContains: "control characters"),
    .init(name: "client_secret with a leading space", account: gmail.setting("client_secret", string: " " + Secrets.clientSecret), field: "client_secret", accountID: "sales", messageContains: "whitespace"),
    .init(name: "client_id with a trailing space", account: gmail.setting("client_id", string: "cid.apps.googleusercontent.com "), field: "client_id", accountID: "sales", messageContains: "whitespace"),
    .init(name: "client_id as number", account: gmail.setting("client_id", raw: "1234567890"), field: "client_id", accountID: "sales", messageContains: "must be a string, got integer"),
    .init(name: "refresh_token as object", account: gmail.setting("refresh_token", raw: "{\"value\": \(jsonString(Secrets.refreshToken))}"), field: "refresh_token", accountID: "sales", messageContains: "must be a string, got object"),
    .init(name: "empty password", account: gmail.setting("password", string: ""), field: "password", accountID: "sales", messageContains: "must not be empty"),

    // account_id.
    .init(name: "empty account_id", account: gmail.setting("account_id", string: ""), field: "account_id", accountID: nil, messageContains: "must not be empty"),
    .init(name: "account_id with a newline", account: gmail.setting("account_id", string: "sales\nfake log line"), field: "account_id", accountID: nil, messageContains: "control"),
    .init(name: "account_id not a string", account: gmail.setting("account_id", raw: "7"), field: "account_id", accountID: nil, messageContains: "must be a string, got integer"),

    // Email shape. With no account_id the label falls back to nothing, never the bad email.
    .init(name: "email without @", account: .gmail(id: nil, email: "sales.example.com"), field: "email", accountID: nil, messageContains: "exactly one '@'"),
    .init(name: "email with two @", account: .gmail(email: "sales@ops@example.com"), field: "email", accountID: "sales", messageContains: "exactly one '@'"),
    .init(name: "email with empty local part", account: .gmail(email: "@example.com"), field: "email", accountID: "sales", messageContains: "both parts non-empty"),
    .init(name: "email with empty domain", account: .gmail(email: "sales@"), field: "email", accountID: "sales", messageContains: "both parts non-empty"),
    .init(name: "email with a space", account: .gmail(email: "sales team@example.com"), field: "email", accountID: "sales", messageContains: "whitespace"),
    .init(name: "email with angle brackets", account: .gmail(email: "<sales@example.com>"), field: "email", accountID: "sales", messageContains: "angle brackets"),
    .init(name: "email with CRLF", account: .gmail(email: "sales@example.com\r\nX-Injected: yes"), field: "email", accountID: "sales", messageContains: "control"),
    .init(name: "email with a control character", account: .gmail(email: "sa\u{1}les@example.com"), field: "email", accountID: "sales", messageContains: "control"),
    .init(name: "email with a zero-width space", account: .gmail(email: "sales\u{200B}@example.com"), field: "email", accountID: "sales", messageContains: "control"),
    .init(name: "email not a string", account: gmail.setting("email", raw: "[\"sales@example.com\"]"), field: "email", accountID: "sales", messageContains: "must be a string, got array"),

    // Unknown fields.
    .init(name: "misspelt smtp_port", account: gmail.setting("smtp_prot", raw: "587"), field: "smtp_prot", accountID: "sales", messageContains: "unknown field (did you mean \"smtp_port\"?)"),
    .init(name: "camelCase field", account: gmail.setting("refreshToken", string: Secrets.refreshToken), field: "refreshToken", accountID: "sales", messageContains: "unknown field (did you mean \"refresh_token\"?)"),
    .init(name: "unrelated field", account: gmail.setting("comment", string: "hello"), field: "comment", accountID: "sales", messageContains: "unknown field"),
    .init(name: "unknown field holding a secret", account: gmail.setting("secret", string: Secrets.password), field: "secret", accountID: "sales", messageContains: "unknown field"),
    .init(name: "unknown field beats other errors", account: gmail.removing("email").setting("emial", string: "sales@example.com"), field: "emial", accountID: "sales", messageContains: "did you mean \"email\"?"),

    // Integers.
    .init(name: "smtp_port as string", account: gmail.setting("smtp_port", string: "587"), field: "smtp_port", accountID: "sales", messageContains: "must be an integer between 1 and 65535, got string"),
    .init(name: "smtp_port as float", account: gmail.setting("smtp_port", raw: "587.5"), field: "smtp_port", accountID: "sales", messageContains: "got a non-integer number"),
    .init(name: "smtp_port as 587.0", account: gmail.setting("smtp_port", raw: "587.0"), field: "smtp_port", accountID: "sales", messageContains: "got a non-integer number"),
    .init(name: "smtp_port in exponent form", account: gmail.setting("smtp_port", raw: "5.87e2"), field: "smtp_port", accountID: "sales", messageContains: "got a non-integer number"),
    .init(name: "smtp_port as true", account: gmail.setting("smtp_port", raw: "true"), field: "smtp_port", accountID: "sales", messageContains: "got boolean"),
    .init(name: "smtp_port as false", account: gmail.setting("smtp_port", raw: "false"), field: "smtp_port", accountID: "sales", messageContains: "got boolean"),
    .init(name: "smtp_port zero", account: gmail.setting("smtp_port", raw: "0"), field: "smtp_port", accountID: "sales", messageContains: "must be an integer between 1 and 65535"),
    .init(name: "smtp_port negative", account: gmail.setting("smtp_port", raw: "-587"), field: "smtp_port", accountID: "sales", messageContains: "must be an integer between 1 and 65535"),
    .init(name: "smtp_port 65536", account: gmail.setting("smtp_port", raw: "65536"), field: "smtp_port", accountID: "sales", messageContains: "must be an integer between 1 and 65535"),
    .init(name: "smtp_port beyond Int", account: gmail.setting("smtp_port", raw: "99999999999999999999999"), field: "smtp_port", accountID: "sales", messageContains: "must be an integer between 1 and 65535"),
    .init(name: "max_connections zero", account: gmail.setting("max_connections", raw: "0"), field: "max_connections", accountID: "sales", messageContains: "must be an integer of at least 1"),
    .init(name: "max_connections as string", account: gmail.setting("max_connections", string: "5"), field: "max_connections", accountID: "sales", messageContains: "got string"),
    .init(name: "max_connections as boolean", account: gmail.setting("max_connections", raw: "true"), field: "max_connections", accountID: "sales", messageContains: "got boolean"),
    .init(name: "max_messages_per_connection zero", account: gmail.setting("max_messages_per_connection", raw: "0"), field: "max_messages_per_connection", accountID: "sales", messageContains: "must be an integer of at least 1"),
    .init(name: "max_messages_per_connection as float", account: gmail.setting("max_messages_per_connection", raw: "1.5"), field: "max_messages_per_connection", accountID: "sales", messageContains: "non-integer"),

    // Token URL.
    .init(name: "http token URL to a remote host", account: gmail.setting("token_url", string: "http://oauth2.googleapis.com/token"), field: "token_url", accountID: "sales", messageContains: "plain-http token URL"),
    .init(name: "http token URL to a private address", account: gmail.setting("token_url", string: "http://10.0.0.5/token"), field: "token_url", accountID: "sales", messageContains: "plain-http token URL"),
    .init(name: "http token URL to a lookalike of 127.0.0.1", account: gmail.setting("token_url", string: "http://127.0.0.1.evil.example/token"), field: "token_url", accountID: "sales", messageContains: "plain-http token URL"),
    .init(name: "http token URL to a lookalike of localhost", account: gmail.setting("token_url", string: "http://localhost.evil.example/token"), field: "token_url", accountID: "sales", messageContains: "plain-http token URL"),
    .init(name: "http token URL to a short-form 127.1", account: gmail.setting("token_url", string: "http://127.1/token"), field: "token_url", accountID: "sales", messageContains: "plain-http token URL"),
    .init(name: "http token URL to a percent-encoded loopback", account: gmail.setting("token_url", string: "http://%31%32%37.0.0.1/token"), field: "token_url", accountID: "sales", messageContains: "plain-http token URL"),
    .init(name: "http token URL to 0.0.0.0", account: gmail.setting("token_url", string: "http://0.0.0.0/token"), field: "token_url", accountID: "sales", messageContains: "plain-http token URL"),
    .init(name: "ftp token URL", account: gmail.setting("token_url", string: "ftp://oauth2.googleapis.com/token"), field: "token_url", accountID: "sales", messageContains: "must use https"),
    .init(name: "token URL without scheme", account: gmail.setting("token_url", string: "oauth2.googleapis.com/token"), field: "token_url", accountID: "sales", messageContains: "must be an absolute https URL"),
    .init(name: "token URL without host", account: gmail.setting("token_url", string: "https:///token"), field: "token_url", accountID: "sales", messageContains: "with a host"),
    .init(name: "token URL that does not parse", account: gmail.setting("token_url", string: "https://exa mple.com/token"), field: "token_url", accountID: "sales", messageContains: "is not a valid URL"),
    .init(name: "token URL as a number", account: gmail.setting("token_url", raw: "443"), field: "token_url", accountID: "sales", messageContains: "must be a string"),
    .init(name: "custom without token_url", account: custom.removing("token_url"), field: "token_url", accountID: "ops", messageContains: "is required for provider \"custom\""),
    .init(name: "{tenant} without a tenant", account: custom.setting("token_url", string: "https://auth.example.org/{tenant}/token"), field: "token_url", accountID: "ops", messageContains: "no \"tenant\" is set"),

    // Tenant and scope.
    .init(name: "tenant with a slash", account: outlook.setting("tenant", string: "../evil"), field: "tenant", accountID: "support", messageContains: "may contain only"),
    .init(name: "tenant of dots", account: outlook.setting("tenant", string: ".."), field: "tenant", accountID: "support", messageContains: "is not a valid tenant"),
    .init(name: "empty tenant", account: outlook.setting("tenant", string: ""), field: "tenant", accountID: "support", messageContains: "must not be empty"),
    .init(name: "empty scope", account: outlook.setting("scope", string: ""), field: "scope", accountID: "support", messageContains: "must not be empty"),
    .init(name: "scope with a newline", account: outlook.setting("scope", string: "SMTP.Send\noffline_access"), field: "scope", accountID: "support", messageContains: "control characters"),
    .init(name: "scope as array", account: outlook.setting("scope", raw: "[\"a\", \"b\"]"), field: "scope", accountID: "support", messageContains: "must be a string, got array"),

    // SMTP endpoint.
    .init(name: "custom without smtp_host", account: custom.removing("smtp_host"), field: "smtp_host", accountID: "ops", messageContains: "is required for provider \"custom\""),
    .init(name: "smtp_host with a port", account: gmail.setting("smtp_host", string: "smtp.gmail.com:465"), field: "smtp_host", accountID: "sales", messageContains: "put it in \"smtp_port\""),
    .init(name: "smtp_host with a space", account: gmail.setting("smtp_host", string: "smtp gmail.com"), field: "smtp_host", accountID: "sales", messageContains: "must be a hostname or IP address"),
    .init(name: "smtp_host as URL", account: gmail.setting("smtp_host", string: "smtp://smtp.gmail.com"), field: "smtp_host", accountID: "sales", messageContains: "is not a valid hostname or IP address"),
    .init(name: "smtp_host with an empty label", account: gmail.setting("smtp_host", string: "smtp..gmail.com"), field: "smtp_host", accountID: "sales", messageContains: "empty label"),
    .init(name: "smtp_tls unknown", account: gmail.setting("smtp_tls", string: "ssl"), field: "smtp_tls", accountID: "sales", messageContains: "must be one of \"starttls\", \"tls\", \"none\""),
    .init(name: "smtp_tls as boolean", account: gmail.setting("smtp_tls", raw: "true"), field: "smtp_tls", accountID: "sales", messageContains: "must be a string, got boolean"),
    .init(name: "smtp_tls none to gmail", account: gmail.setting("smtp_tls", string: "none"), field: "smtp_tls", accountID: "sales", messageContains: "allowed only when smtp_host is a loopback address"),
    .init(name: "smtp_tls none to a private address", account: custom.setting("smtp_tls", string: "none").setting("smtp_host", string: "192.168.1.10"), field: "smtp_tls", accountID: "ops", messageContains: "loopback"),
    .init(name: "smtp_tls none to a lookalike of localhost", account: custom.setting("smtp_tls", string: "none").setting("smtp_host", string: "localhost.example.org"), field: "smtp_tls", accountID: "ops", messageContains: "loopback"),
    .init(name: "smtp_tls none to a leading-zero 127 address", account: custom.setting("smtp_tls", string: "none").setting("smtp_host", string: "0127.0.0.1"), field: "smtp_tls", accountID: "ops", messageContains: "loopback"),

    // The label used when account_id is absent is the (valid) email.
    .init(name: "error labelled by email when account_id is absent", account: .gmail(id: nil).setting("smtp_port", raw: "0"), field: "smtp_port", accountID: "sales@example.com", messageContains: "between 1 and 65535"),
]

/// Every sending limit shares one rule, so each gets the same bad values: below zero, above
/// the cap, beyond Int, and each wrong JSON type. A misspelling gets the usual hint.
private let limitFieldErrorCases: [FieldErrorCase] = {
    let fields = ["max_messages_per_minute", "max_messages_per_hour", "max_messages_per_day", "max_recipients_per_day", "max_concurrent_messages"]
    let range = "must be an integer from 0 (unlimited) to 10000000"
    let badValues: [(label: String, raw: String, messageContains: String)] = [
        ("negative", "-1", range),
        ("above the cap", "10000001", range),
        ("beyond Int", "99999999999999999999999", range),
        ("as float", "1.5", range + ", got a non-integer number"),
        ("as 100.0", "100.0", "got a non-integer number"),
        ("as string", jsonString("100"), range + ", got string"),
        ("as boolean", "true", range + ", got boolean"),
        ("as array", "[100]", "got array"),
    ]
    var cases = fields.flatMap { field in
        badValues.map { bad in
            FieldErrorCase(name: "\(field) \(bad.label)", account: gmail.setting(field, raw: bad.raw), field: field, accountID: "sales", messageContains: bad.messageContains)
        }
    }
    cases.append(.init(name: "limit on outlook", account: outlook.setting("max_messages_per_minute", raw: "-30"), field: "max_messages_per_minute", accountID: "support", messageContains: range))
    cases.append(.init(name: "misspelt max_messages_per_day", account: gmail.setting("max_mesages_per_day", raw: "500"), field: "max_mesages_per_day", accountID: "sales", messageContains: "unknown field (did you mean \"max_messages_per_day\"?)"))
    cases.append(.init(name: "singular max_recipient_per_day", account: gmail.setting("max_recipient_per_day", raw: "500"), field: "max_recipient_per_day", accountID: "sales", messageContains: "unknown field (did you mean \"max_recipients_per_day\"?)"))
    return cases
}()

@Suite("Field errors")
struct FieldErrorTests {
    @Test(arguments: fieldErrorCases)
    func invalidField(_ testCase: FieldErrorCase) throws {
        let json = document(.other, testCase.account)
        let error = try #require(parseError(json))
        #expect(error.source == testSource)
        #expect(error.index == 1)
        #expect(error.field == testCase.field)
        #expect(error.accountID == testCase.accountID)
        #expect(error.message.contains(testCase.messageContains), "message was: \(error.message)")
        #expect(error.position == nil)
        #expect(error.description.hasPrefix(testSource + ": account "))
        #expect(error.description.contains("(#2)") || testCase.accountID == nil)
        if let field = testCase.field {
            #expect(error.description.contains("field \"\(field)\""))
        }
    }

    @Test("an account that is not an object")
    func accountNotAnObject() throws {
        let json = "{\"accounts\": [\(AccountJSON.other.json), \"sales@example.com\"]}"
        let error = try #require(parseError(json))
        #expect(error.index == 1)
        #expect(error.field == nil)
        #expect(error.accountID == nil)
        #expect(error.message == "must be a JSON object, got string")
        #expect(error.description == "\(testSource): account #2: must be a JSON object, got string")
    }

    @Test("description has the documented shape")
    func descriptionShape() throws {
        let error = try #require(parseError(document(.other, AccountJSON.gmail().setting("smtp_port", raw: "70000"))))
        #expect(error.description == "\(testSource): account \"sales\" (#2): field \"smtp_port\": must be an integer between 1 and 65535")
    }

    @Test("the first account is #1 and index 0")
    func firstAccountIndex() throws {
        let error = try #require(parseError(document(AccountJSON.gmail().removing("refresh_token"), .other)))
        #expect(error.index == 0)
        #expect(error.description.contains("(#1)"))
    }

    @Test("wrong-type secrets are reported without their value")
    func secretOfWrongType() throws {
        let account = AccountJSON.gmail().setting("password", raw: "[\(jsonString(Secrets.password))]")
        let error = try #require(parseError(document(.other, account)))
        #expect(error.field == "password")
        #expect(error.message == "must be a string, got array")
    }

    @Test("a hostile unknown key is escaped and truncated in the description")
    func hostileUnknownKey() throws {
        let key = "x\r\nFAKE LOG LINE " + String(repeating: "A", count: 500)
        let error = try #require(parseError(document(AccountJSON.gmail().setting(key, raw: "1"))))
        #expect(error.field == key)
        #expect(!error.description.contains("\n"))
        #expect(!error.description.contains("\r"))
        #expect(error.description.count < 300)
    }
}
