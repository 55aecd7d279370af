import Foundation
import Testing
import Accounts

@Suite("Document-level errors")
struct DocumentErrorTests {
    @Test("empty accounts array in object form")
    func emptyAccountsObject() throws {
        let error = try #require(parseError("{\"accounts\": []}"))
        #expect(error.message == "no accounts")
        #expect(error.field == "accounts")
        #expect(error.index == nil)
        #expect(error.accountID == nil)
        #expect(error.source == testSource)
        #expect(error.description == "\(testSource): field \"accounts\": no accounts")
    }

    @Test("empty bare array")
    func emptyBareArray() throws {
        let error = try #require(parseError(" [ ] "))
        #expect(error.message == "no accounts")
        #expect(error.field == nil)
        #expect(error.description == "\(testSource): no accounts")
    }

    @Test("object without accounts")
    func missingAccounts() throws {
        let error = try #require(parseError("{}"))
        #expect(error.field == "accounts")
        #expect(error.message == "is required")
    }

    @Test("misspelt top-level key")
    func misspeltTopLevelKey() throws {
        let error = try #require(parseError("{\"acounts\": [\(AccountJSON.gmail().json)]}"))
        #expect(error.field == "acounts")
        #expect(error.message.contains("did you mean \"accounts\"?"))
        #expect(error.index == nil)
    }

    @Test("extra top-level key next to accounts")
    func extraTopLevelKey() throws {
        let error = try #require(parseError("{\"accounts\": [\(AccountJSON.gmail().json)], \"version\": 2}"))
        #expect(error.field == "version")
        #expect(error.message.hasPrefix("unknown top-level field"))
    }

    @Test("accounts is not an array", arguments: [
        ("{\"accounts\": {}}", "got object"),
        ("{\"accounts\": \"sales@example.com\"}", "got string"),
        ("{\"accounts\": null}", "got null"),
    ])
    func accountsNotArray(json: String, expected: String) throws {
        let error = try #require(parseError(json))
        #expect(error.field == "accounts")
        #expect(error.message.contains(expected))
    }

    @Test("top level is neither object nor array", arguments: ["42", "\"accounts\"", "true", "null"])
    func topLevelScalar(json: String) throws {
        let error = try #require(parseError(json))
        #expect(error.field == nil)
        #expect(error.message.hasPrefix("the top level must be"))
    }

    @Test("duplicate email, case-insensitively, names both accounts")
    func duplicateEmail() throws {
        let first = AccountJSON.gmail(id: "sales", email: "sales@example.com")
        let second = AccountJSON.gmail(id: "sales-2", email: "Sales@Example.COM")
            .setting("client_secret", string: Secrets.otherClientSecret)
            .setting("refresh_token", string: Secrets.otherRefreshToken)
            .setting("password", string: Secrets.otherPassword)
        let error = try #require(parseError(document(first, .other, second)))
        #expect(error.field == "email")
        #expect(error.index == 2)
        #expect(error.accountID == "sales-2")
        #expect(error.message.contains("duplicate email"))
        #expect(error.description.contains("\"sales-2\" (#3)"))
        #expect(error.description.contains("\"sales\" (#1)"))
    }

    @Test("duplicate email where both account_ids default to the email")
    func duplicateDefaultedEmail() throws {
        let error = try #require(parseError(document(.gmail(id: nil), .outlook(id: nil, email: "SALES@example.com"))))
        #expect(error.field == "email")
        #expect(error.index == 1)
        #expect(error.accountID == "SALES@example.com")
        #expect(error.description.contains("\"sales@example.com\" (#1)"))
    }

    @Test("duplicate account_id")
    func duplicateAccountID() throws {
        let error = try #require(parseError(document(.gmail(id: "team"), .other, .outlook(id: "team"))))
        #expect(error.field == "account_id")
        #expect(error.index == 2)
        #expect(error.accountID == "team")
        #expect(error.message.contains("duplicate account_id"))
        #expect(error.message.contains("#1"))
    }

    @Test("an explicit account_id may not collide with another account's defaulted one")
    func explicitIDCollidesWithDefault() throws {
        let error = try #require(parseError(document(.gmail(id: nil), .outlook(id: "sales@example.com", email: "support@example.com"))))
        #expect(error.field == "account_id")
        #expect(error.index == 1)
    }

    @Test("source label is used verbatim")
    func sourceLabel() throws {
        let error = try #require(parseError("[]", source: "env XOAUTH2_PROXY_ACCOUNTS"))
        #expect(error.source == "env XOAUTH2_PROXY_ACCOUNTS")
        #expect(error.description.hasPrefix("env XOAUTH2_PROXY_ACCOUNTS: "))
    }
}
