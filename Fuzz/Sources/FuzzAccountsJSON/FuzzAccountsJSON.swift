// The accounts document parser: the strict JSON parser and the decoding of accounts from it,
// through the public entry point the CLI, the env source and reloads use
// (AccountsConfigLoader.parse). `{"file": …}` values and relative tls_ca_file paths resolve
// in a scratch directory holding a secret file and a CA file.
//
// Properties: the JSON parser round-trips (a parsed value written back and parsed again is
// equal); error positions lie within the document; no error text and no printed account
// (description, debugDescription, dump) ever holds a password, client secret or refresh token.
@testable import Accounts
import FuzzSupport

#if canImport(Glibc)
import Glibc
#endif

let scratch: String = {
    var template = Array("/tmp/fuzz-accounts-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    for (name, text) in [("secret", "s3cr3t-from-file\n"), ("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")] {
        let file = fopen(path + "/" + name, "w")!
        fputs(text, file)
        fclose(file)
    }
    return path
}()

let secretKeys: Set<String> = ["password", "client_secret", "refresh_token"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))

    var document: JSONValue?
    do {
        let value = try JSONParser.parse(bytes)
        document = value
        let written = Array(serialize(value).utf8)
        do {
            let again = try JSONParser.parse(written)
            fuzzCheck(again == value, "JSON round trip: \(escaped(bytes)) -> \(escaped(written))")
        } catch {
            fuzzCheck(false, "our own serialization \(escaped(written)) does not parse: \(error.message)")
        }
    } catch {
        fuzzCheck(error.offset >= 0 && error.offset <= bytes.count, "syntax error offset \(error.offset) of \(bytes.count)")
    }

    // Secrets worth looking for in error text: not also written somewhere else in the
    // document where an error may rightly quote it (a key, an email, a path), and unlike
    // anything an error message says by itself.
    var secrets: [String] = []
    var others: [String] = []
    if let document { collectStrings(document, key: nil, secrets: &secrets, others: &others) }
    secrets = secrets.filter { secret in isDistinctive(secret) && !others.contains { $0.contains(secret) } }

    do {
        let directory = try AccountsConfigLoader.parse(bytes, source: "fuzz.json", baseDirectory: scratch)
        for account in directory.accounts {
            // Whatever prints an account must not depend on its secrets.
            var other = account
            other.password = account.password.map { _ in "other password" }
            other.clientSecret = account.clientSecret.map { _ in "other client secret" }
            if case .refreshToken = account.grant { other.grant = .refreshToken("other refresh token") }
            for (shown, otherShown) in [(account.description, other.description), (account.debugDescription, other.debugDescription),
                                        (dumped(account), dumped(other))] {
                fuzzCheck(shown == otherShown, "a printed account depends on its secrets: \(shown) vs \(otherShown)")
            }
        }
    } catch {
        let text = error.description
        for secret in secrets {
            fuzzCheck(!text.contains(secret), "error text quotes a secret \(escaped(Array(secret.utf8))): \(text)")
        }
        if let position = error.position {
            fuzzCheck(position.byteOffset >= 0 && position.byteOffset <= bytes.count && position.line >= 1 && position.column >= 1,
                      "error position \(position) in \(bytes.count) bytes")
        }
    }
    return 0
}

func dumped(_ account: Account) -> String {
    var text = ""
    dump(account, to: &text)
    return text
}

/// Long, or holding a character no error message of ours is made of.
func isDistinctive(_ secret: String) -> Bool {
    let odd = Set("~!$%^&*+=|;?`".utf8)
    return secret.utf8.count >= 32 || (secret.utf8.count >= 6 && secret.utf8.contains { odd.contains($0) || $0 >= 0x80 })
}

func collectStrings(_ value: JSONValue, key: String?, secrets: inout [String], others: inout [String]) {
    switch value {
    case .string(let text):
        if let key, secretKeys.contains(key) { secrets.append(text) } else { others.append(text) }
    case .number(let literal):
        others.append(literal)
    case .array(let elements):
        for element in elements { collectStrings(element, key: key, secrets: &secrets, others: &others) }
    case .object(let members):
        for member in members {
            others.append(member.key)
            // {"password": {"file": "…"}}: the path is not the secret.
            collectStrings(member.value, key: member.key == "file" ? nil : member.key, secrets: &secrets, others: &others)
        }
    case .null, .bool:
        break
    }
}

/// JSON text for a parsed value: strings escaped minimally, numbers as written.
func serialize(_ value: JSONValue) -> String {
    switch value {
    case .null: return "null"
    case .bool(let flag): return flag ? "true" : "false"
    case .number(let literal): return literal
    case .string(let text): return quote(text)
    case .array(let elements): return "[" + elements.map(serialize).joined(separator: ",") + "]"
    case .object(let members): return "{" + members.map { quote($0.key) + ":" + serialize($0.value) }.joined(separator: ",") + "}"
    }
}

func quote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\u{00}"..."\u{1F}": out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// See runLibFuzzer: the entry point a debug build's `main` is linked to.
@_cdecl("FuzzAccountsJSON_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
