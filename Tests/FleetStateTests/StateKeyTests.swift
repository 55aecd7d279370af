import Foundation
import Testing
@testable import FleetState

@Suite("State key file and sealing")
struct StateKeyTests {
    static let key: [UInt8] = (0..<32).map { UInt8($0 * 7 % 256) }
    static var hex: String { key.map { String(format: "%02x", $0) }.joined() }

    static let acceptedContents: [[UInt8]] = {
        let base64 = Data(key).base64EncodedString()
        let urlSafe = base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let texts: [String] = [hex, hex.uppercased() + "\n", base64 + "\n", base64 + "\r\n", urlSafe]
        return [key] + texts.map { Array($0.utf8) }
    }()

    static let refusedContents: [(content: [UInt8], reason: String)] = {
        let a: UInt8 = 0x41
        var cases: [(content: [UInt8], reason: String)] = []
        cases.append(([], "the file is empty"))
        cases.append((Array("\n".utf8), "the file is empty"))
        cases.append((Array(repeating: a, count: 31), "decodes to 23 bytes"))
        cases.append((Array(repeating: a, count: 40), "decodes to 30 bytes"))
        cases.append((Array(String(hex.dropLast(2)).utf8), "decodes to 46 bytes"))
        cases.append((Array(repeating: UInt8(0), count: 33), "neither 32 raw bytes"))
        cases.append((Array(Data(key + [1]).base64EncodedString().utf8), "decodes to 33 bytes"))
        cases.append((Array("secret-looking text that is not a key!".utf8), "neither 32 raw bytes"))
        return cases
    }()

    @Test("32 raw bytes, 64 hex digits and base64 (standard or URL-safe) read as the same key; a trailing newline is allowed",
          arguments: acceptedContents)
    func accepted(_ content: [UInt8]) throws {
        #expect(try StateKey.keyBytes(content, path: "/keys/state") == Self.key)
    }

    @Test("anything else is an error naming the file and what was wrong, never the content", arguments: 0..<refusedContents.count)
    func refused(_ index: Int) throws {
        let (content, reason) = Self.refusedContents[index]
        let error = #expect(throws: StateKeyError.self) { try StateKey(parsing: content, path: "/keys/state") }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.hasPrefix("state key file /keys/state: "))
        #expect(text.contains(reason), "\(text)")
        if !content.isEmpty { #expect(!text.contains(String(decoding: content.prefix(8), as: UTF8.self))) }
    }

    @Test("an unreadable file is named with the reason")
    func unreadable() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID().uuidString)").path
        let error = #expect(throws: StateKeyError.self) { try StateKey(contentsOf: path) }
        guard case .unreadable(let named, _) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(named == path)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("state-key-\(UUID().uuidString)").path
        try Data((Self.hex + "\n").utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let key = try StateKey(contentsOf: file)
        #expect(try key.open(try key.seal([1, 2, 3], credentialKey: "a", generation: 1), credentialKey: "a", generation: 1) == [1, 2, 3])
    }

    @Test("associated data tells credential keys and generations apart, with no ambiguous joins")
    func associatedData() {
        let base = StateKey.associatedData(credentialKey: "sales@example.com", generation: 7)
        #expect(base == StateKey.associatedData(credentialKey: "sales@example.com", generation: 7))
        #expect(base != StateKey.associatedData(credentialKey: "sales@example.com", generation: 8))
        #expect(base != StateKey.associatedData(credentialKey: "ops@example.com", generation: 7))
        #expect(StateKey.associatedData(credentialKey: "a\u{0}1", generation: 2) != StateKey.associatedData(credentialKey: "a", generation: 12))
    }

    @Test("a sealed token opens only under the same key, credential key and generation, and not once altered")
    func sealing() throws {
        let key = try StateKey(parsing: Self.key, path: "k")
        let other = try StateKey(parsing: Self.key.reversed(), path: "k2")
        let sealed = try key.seal(Array("token".utf8), credentialKey: "sales@example.com", generation: 3)
        #expect(!String(decoding: sealed, as: UTF8.self).contains("token"))
        #expect(try key.open(sealed, credentialKey: "sales@example.com", generation: 3) == Array("token".utf8))
        #expect(throws: (any Error).self) { try key.open(sealed, credentialKey: "sales@example.com", generation: 2) }
        #expect(throws: (any Error).self) { try key.open(sealed, credentialKey: "ops@example.com", generation: 3) }
        #expect(throws: (any Error).self) { try other.open(sealed, credentialKey: "sales@example.com", generation: 3) }
        var altered = sealed
        altered[altered.count / 2] ^= 1
        #expect(throws: (any Error).self) { try key.open(altered, credentialKey: "sales@example.com", generation: 3) }
        // A fresh nonce every time: the same token twice does not look the same in the table.
        #expect(try key.seal(Array("token".utf8), credentialKey: "sales@example.com", generation: 3) != sealed)
    }

    @Test("the mounted refresh token's fingerprint is its SHA-256 in hex")
    func fingerprint() {
        #expect(FleetTokenStore.fingerprint(ofMounted: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
