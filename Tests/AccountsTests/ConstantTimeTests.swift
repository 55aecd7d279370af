import Testing
import Accounts

@Suite("constantTimeEquals")
struct ConstantTimeTests {
    @Test("agrees with byte equality", arguments: [
        ("", "", true),
        ("a", "a", true),
        ("correct horse battery staple", "correct horse battery staple", true),
        ("pässwörd", "pässwörd", true),
        ("", "a", false),
        ("a", "", false),
        ("abc", "abd", false),
        ("abc", "xbc", false),
        ("abc", "ab", false),
        ("ab", "abc", false),
        ("abc", "abc\u{0}", false),
        ("password", "Password", false),
        // Canonically equivalent for String ==, but different bytes on the wire.
        ("caf\u{e9}", "cafe\u{301}", false),
    ])
    func comparison(a: String, b: String, expected: Bool) {
        #expect(constantTimeEquals(a, b) == expected)
        #expect(constantTimeEquals(b, a) == expected, "symmetric")
        #expect(expected == (Array(a.utf8) == Array(b.utf8)), "table sanity: expectation is byte equality")
    }

    @Test("a difference in any single position is detected")
    func everyPosition() {
        let base = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        for position in base.indices {
            var changed = base
            changed[position] ^= 0x01
            #expect(!constantTimeEquals(String(decoding: base, as: UTF8.self), String(decoding: changed, as: UTF8.self)),
                    "difference at \(position) missed")
        }
    }

    @Test("long inputs")
    func longInputs() {
        let long = String(repeating: "x", count: 100_000)
        #expect(constantTimeEquals(long, long))
        #expect(!constantTimeEquals(long, long + "x"))
        #expect(!constantTimeEquals(long, String(long.dropLast()) + "y"))
    }
}
