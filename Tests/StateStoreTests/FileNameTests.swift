import Testing
@testable import StateStore

@Suite("File names")
struct FileNameTests {
    private func isHex32(_ text: Substring) -> Bool {
        text.count == 32 && text.allSatisfy { "0123456789abcdef".contains($0) }
    }

    @Test("a name is the kind and 32 hex digits, with no part of the email")
    func opaque() {
        let name = StateDirectory.fileName(forAccountEmail: "Alice.Smith@Example.com", kind: "refresh-token")
        #expect(name.hasPrefix("refresh-token-"))
        #expect(isHex32(name.dropFirst("refresh-token-".count)))
        for part in ["alice", "smith", "example", "com", "@", "."] {
            #expect(!name.lowercased().contains(part))
        }
        #expect(throws: Never.self) { try StateDirectory.validate(name) }
    }

    @Test("names ignore the email's case and differ by email and by kind")
    func distinct() {
        let name = { StateDirectory.fileName(forAccountEmail: $0, kind: $1) }
        #expect(name("Sales@Example.COM", "quota") == name("sales@example.com", "quota"))
        #expect(name("sales@example.com", "quota") != name("sales@example.org", "quota"))
        #expect(name("sales@example.com", "quota") != name("sales@example.com", "refresh-token"))
        let many = Set((0..<10_000).map { name("user\($0)@example.com", "quota") })
        #expect(many.count == 10_000)
    }

    @Test("FNV-1a 128 matches the published test vectors")
    func vectors() {
        #expect(FNV1a128.hex(of: Array("".utf8)) == "6c62272e07bb014262b821756295c58d")
        #expect(FNV1a128.hex(of: Array("a".utf8)) == "d228cb696f1a8caf78912b704e4a8964")
        #expect(FNV1a128.hex(of: Array("foobar".utf8)) == "343e1662793c64bf6f0d3597ba446f18")
    }
}
