import Foundation
import Testing
import StateStore

struct ResolutionCase: Sendable, CustomTestStringConvertible {
    var label: String
    var mounted: String
    var state: RefreshTokenState?
    var expected: String
    var testDescription: String { label }
}

private let savedAt = Date(timeIntervalSince1970: 1_700_000_000)
private let resolutionCases: [ResolutionCase] = [
    .init(label: "no state → mounted", mounted: "M1", state: nil, expected: "M1"),
    .init(label: "state descends from the mounted token → state",
          mounted: "M1", state: .init(refreshToken: "R3", mountedFingerprint: RefreshTokenResolution.fingerprint("M1"), savedAt: savedAt),
          expected: "R3"),
    .init(label: "mounted token changed since → mounted",
          mounted: "M2", state: .init(refreshToken: "R3", mountedFingerprint: RefreshTokenResolution.fingerprint("M1"), savedAt: savedAt),
          expected: "M2"),
    .init(label: "fingerprint is not the token itself → mounted",
          mounted: "M1", state: .init(refreshToken: "R3", mountedFingerprint: "M1", savedAt: savedAt), expected: "M1"),
]

@Suite("Refresh tokens")
struct RefreshTokenStoreTests {
    @Test("resolution", arguments: resolutionCases)
    func resolution(_ test: ResolutionCase) {
        #expect(RefreshTokenResolution.choose(mounted: test.mounted, state: test.state) == test.expected)
    }

    @Test("fingerprints are stable, distinct and do not contain the token")
    func fingerprint() {
        let token = "M.C123_BAY.0.U.-secret-refresh-token"
        #expect(RefreshTokenResolution.fingerprint(token) == RefreshTokenResolution.fingerprint(token))
        #expect(RefreshTokenResolution.fingerprint(token) != RefreshTokenResolution.fingerprint(token + "x"))
        #expect(!RefreshTokenResolution.fingerprint(token).contains("secret"))
        #expect(RefreshTokenResolution.fingerprint("").hasPrefix("fnv1a128:"))
    }

    @Test("save and load round trip, rotation and manual replacement")
    func roundTrip() throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let log = CorruptionLog()
        let store = RefreshTokenStore(directory: try StateDirectory(path: temp.path), now: { savedAt }, onCorrupt: log.callback)

        #expect(store.load(email: "a@example.com") == nil)
        #expect(store.resolve(email: "a@example.com", mounted: "M1") == "M1")

        try store.save(email: "A@Example.com", refreshToken: "R1", mounted: "M1")
        let loaded = store.load(email: "a@example.com")
        #expect(loaded == RefreshTokenState(refreshToken: "R1", mountedFingerprint: RefreshTokenResolution.fingerprint("M1"), savedAt: savedAt))
        #expect(store.resolve(email: "a@example.com", mounted: "M1") == "R1")

        try store.save(email: "a@example.com", refreshToken: "R2", mounted: "M1")  // rotated again
        #expect(store.resolve(email: "a@example.com", mounted: "M1") == "R2")
        #expect(store.resolve(email: "a@example.com", mounted: "M2") == "M2")     // operator replaced the Secret
        #expect(store.load(email: "b@example.com") == nil)
        #expect(temp.entries() == [StateDirectory.fileName(forAccountEmail: "a@example.com", kind: RefreshTokenStore.kind)])

        try store.remove(email: "a@example.com")
        #expect(store.load(email: "a@example.com") == nil)
        #expect(log.reports.isEmpty)
    }

    @Test("the token is redacted from descriptions and dumps")
    func redacted() {
        let state = RefreshTokenState(refreshToken: "secret-refresh-token", mountedFingerprint: "fnv1a128:00", savedAt: savedAt)
        var dumped = ""
        dump(state, to: &dumped)
        for text in ["\(state)", String(reflecting: state), dumped] {
            #expect(!text.contains("secret-refresh-token"))
            #expect(text.contains("<redacted>"))
        }
    }

    static let secret = "M.C5_BAY.SECRET-0123456789abcdef"
    static let corruptFiles: [String] = [
        "",
        "not json \(secret)",
        "{\"\(secret)\": 1}",
        "{\"version\": \"\(secret)\"}",
        "{\"version\": 2, \"value\": {\"refreshToken\": \"\(secret)\"}}",
        "{\"version\": 1, \"value\": {\"refreshToken\": \"\(secret)\"}}",
        "{\"version\": 1, \"value\": {\"refreshToken\": \"\(secret)\", \"mountedFingerprint\": 7, \"savedAt\": 0}}",
        "{\"version\": 1, \"value\": {\"refreshToken\": \"\", \"mountedFingerprint\": \"\(secret)\", \"savedAt\": 0}}",
        "{\"version\": 1, \"value\": {\"refreshToken\": \"\(secret)\", \"mountedFingerprint\": \"f\", \"savedAt\": \"\(secret)\"}}",
        "[\"\(secret)\"]",
    ]

    @Test("a corrupt file loads as nil and is reported by name, without its content", arguments: corruptFiles.indices)
    func corrupt(index: Int) throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let log = CorruptionLog()
        let store = RefreshTokenStore(directory: try StateDirectory(path: temp.path), onCorrupt: log.callback)
        let name = StateDirectory.fileName(forAccountEmail: "a@example.com", kind: RefreshTokenStore.kind)
        try temp.writeRaw(Self.corruptFiles[index], name: name)

        #expect(store.load(email: "a@example.com") == nil)
        #expect(store.resolve(email: "a@example.com", mounted: "M1") == "M1")
        #expect(log.reports.count == 2)
        for report in log.reports {
            #expect(report.file == name)
            #expect(!report.reason.isEmpty)
            #expect(!report.reason.contains("SECRET"))
            #expect(!report.reason.contains("0123456789"))
        }
    }

    @Test("an unreadable file is reported with the errno text")
    func unreadable() throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let log = CorruptionLog()
        let store = RefreshTokenStore(directory: try StateDirectory(path: temp.path), onCorrupt: log.callback)
        let name = StateDirectory.fileName(forAccountEmail: "a@example.com", kind: RefreshTokenStore.kind)
        try FileManager.default.createDirectory(atPath: temp.path + "/" + name, withIntermediateDirectories: false)
        #expect(store.load(email: "a@example.com") == nil)
        #expect(log.reports.count == 1)
        #expect(log.reports.first?.reason.contains("Is a directory") == true)
    }
}
