import Foundation
import Testing
import Accounts

struct SyntaxCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var messageContains: String

    init(_ name: String, _ text: String, _ messageContains: String) {
        self.init(name, Array(text.utf8), messageContains)
    }

    init(_ name: String, _ bytes: [UInt8], _ messageContains: String) {
        self.name = name
        self.bytes = bytes
        self.messageContains = messageContains
    }

    var testDescription: String { name }
}

private let valid = AccountJSON.gmail().json

private let syntaxCases: [SyntaxCase] = [
    .init("empty input", "", "the document is empty"),
    .init("only whitespace", " \n\t ", "the document is empty"),
    .init("trailing comma in array", "[\(valid),]", "expected a value"),
    .init("trailing comma in object", "{\"accounts\": [\(valid)],}", "expected a string key"),
    .init("missing closing bracket", "{\"accounts\": [\(valid)}", "expected ',' or ']'"),
    .init("truncated document", "{\"accounts\": [\(valid)", "unexpected end of input"),
    .init("single-quoted string", "{'accounts': []}", "expected a string key"),
    .init("comment", "// accounts\n[\(valid)]", "expected a value"),
    .init("missing colon", "{\"accounts\" []}", "expected ':'"),
    .init("unterminated string", "{\"accounts", "unterminated string"),
    .init("raw newline in string", "[{\"email\": \"a\nb@example.com\"}]", "unescaped control character"),
    .init("invalid escape", #"[{"email": "a\qb@example.com"}]"#, "invalid escape"),
    .init("short unicode escape", #"[{"email": "\u12"}]"#, "four hex digits"),
    .init("lone high surrogate", #"[{"email": "\ud83d@example.com"}]"#, "unpaired UTF-16 surrogate"),
    .init("lone low surrogate", #"[{"email": "\ude00@example.com"}]"#, "unpaired UTF-16 surrogate"),
    .init("leading zero", "[{\"smtp_port\": 0587}]", "expected ',' or '}'"),
    .init("plus sign", "[{\"smtp_port\": +587}]", "expected a value"),
    .init("bare decimal point", "[{\"smtp_port\": 587.}]", "invalid number"),
    .init("NaN", "[{\"smtp_port\": NaN}]", "expected a value"),
    .init("misspelt literal", "[{\"password\": nul}]", "expected a value"),
    .init("capitalised literal", "[{\"password\": True}]", "expected a value"),
    .init("two documents", "[\(valid)] []", "unexpected content after"),
    .init("duplicate key", "[{\"password\": \"a\", \"password\": \"b\"}]", "duplicate key \"password\""),
    .init("duplicate top-level key", "{\"accounts\": [], \"accounts\": []}", "duplicate key \"accounts\""),
    .init("invalid UTF-8 in a string", Array("[{\"email\": \"".utf8) + [0xC3, 0x28] + Array("\"}]".utf8), "not valid UTF-8"),
    .init("UTF-16 file", [0xFF, 0xFE] + Array("[]".utf8), "expected a value"),
    .init("deep nesting", String(repeating: "[", count: 10_000), "nesting deeper than"),
]

@Suite("JSON syntax errors")
struct JSONSyntaxTests {
    @Test(arguments: syntaxCases)
    func syntaxError(_ testCase: SyntaxCase) throws {
        do {
            let directory = try AccountsConfigLoader.parse(testCase.bytes, source: testSource)
            Issue.record("parsed \(directory.count) accounts from invalid JSON")
        } catch {
            expectNoSecrets(in: error)
            #expect(error.source == testSource)
            #expect(error.field == nil)
            #expect(error.index == nil)
            #expect(error.accountID == nil)
            #expect(error.message.hasPrefix("invalid JSON: "))
            #expect(error.message.contains(testCase.messageContains), "message was: \(error.message)")
            let position = try #require(error.position)
            #expect(position.byteOffset >= 0 && position.byteOffset <= testCase.bytes.count)
            #expect(error.description.hasPrefix("\(testSource): line "))
        }
    }

    @Test("the position points at the offending byte, with line and column")
    func positionOfError() throws {
        let json = "{\n  \"accounts\": [\n    {\"email\": \"a@b.c\",, }\n  ]\n}"
        let error = try #require(parseError(json))
        let position = try #require(error.position)
        let expectedOffset = try #require(json.utf8.firstIndex(of: UInt8(ascii: ",")).map { json.utf8.distance(from: json.utf8.startIndex, to: $0) + 1 })
        #expect(position.byteOffset == expectedOffset)
        #expect(position.line == 3)
        #expect(position.column == 23)
        #expect(error.description.contains("line 3, column 23 (byte \(expectedOffset))"))
    }

    @Test("a syntax error right after a secret does not quote it")
    func syntaxErrorNextToSecret() throws {
        let json = "{\"accounts\": [{\"refresh_token\": \(jsonString(Secrets.refreshToken)) \(jsonString(Secrets.password))}]}"
        let error = try #require(parseError(json))
        #expect(error.message.contains("expected ',' or '}'"))
    }

    @Test("an unterminated secret string does not quote it")
    func unterminatedSecret() throws {
        let json = "{\"accounts\": [{\"password\": \"\(Secrets.password)"
        let error = try #require(parseError(json))
        #expect(error.message.contains("unterminated string"))
    }

    @Test("a duplicated secret field is an error rather than last-one-wins")
    func duplicatedSecretField() throws {
        let json = "[{\"password\": \(jsonString(Secrets.password)), \"password\": \(jsonString(Secrets.otherPassword))}]"
        let error = try #require(parseError(json))
        #expect(error.message.contains("duplicate key \"password\""))
    }

    @Test("moderate nesting inside an account is a type error, not a crash")
    func nestedValueIsTypeError() throws {
        let nested = String(repeating: "[", count: 50) + String(repeating: "]", count: 50)
        let error = try #require(parseError(document(AccountJSON.gmail().setting("scope", raw: nested))))
        #expect(error.field == "scope")
        #expect(error.message == "must be a string, got array")
    }
}
