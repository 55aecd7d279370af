import Foundation
import Testing
import TestSupport
import Accounts
#if canImport(Glibc)
import Glibc
#endif

/// A FIFO or a device where an account file belongs is refused with the file's name, never
/// waited on: a FIFO planted in a mounted Secret used to block every reload and `check` on
/// open().
@Suite("special files in account sources", .timeLimit(.minutes(5)))
struct SpecialFileTests {
    /// The load's error, from a thread of its own: a load stuck in open() fails the test (after
    /// a generous hang guard) instead of hanging the suite.
    static func loadError(_ sources: AccountSources) async -> ConfigError? {
        let outcome = NSLock()
        nonisolated(unsafe) var result: ConfigError??
        let thread = Thread {
            let error = sourceError(sources)
            outcome.withLock { result = .some(error) }
        }
        thread.start()
        guard await eventually(within: .seconds(30), { outcome.withLock { result != nil } }) else {
            Issue.record("loading the accounts is stuck (a blocking open or read)")
            return nil
        }
        return outcome.withLock { result ?? nil }
    }

    @Test("a FIFO behind a key of a mounted Secret fails the load, naming the file")
    func fifoBehindASecretKey() async throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var mount = SecretMount(root: root)
        try mount.update(["sales.json": AccountJSON.gmail().json])
        let fifo = root.appendingPathComponent(".planted").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let key = root.appendingPathComponent("planted.json").path
        try FileManager.default.createSymbolicLink(atPath: key, withDestinationPath: ".planted")

        let error = await Self.loadError(AccountSources(accountsDirectory: mount.path))
        #expect(error?.description.contains(key) == true, "\(String(describing: error))")
        #expect(error?.description.contains("not a regular file (a FIFO)") == true, "\(String(describing: error))")
    }

    @Test("a device as a {\"file\": …} value is refused, not read")
    func deviceAsFileReference() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let account = AccountJSON.gmail().setting("client_secret", raw: #"{"file": "/dev/zero"}"#)
        let config = try root.writing(document(account), to: "accounts.json")

        let error = sourceError(AccountSources(configFile: config.path))
        #expect(error?.field == "client_secret")
        #expect(error?.description.contains("/dev/zero") == true)
        #expect(error?.description.contains("not a regular file (a character device)") == true, "\(String(describing: error))")
    }

    @Test("--config still reads a pipe, as from <(vault read …)")
    func configFromAPipe() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let bytes = Array(document(AccountJSON.gmail()).utf8)
        #expect(bytes.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) } == bytes.count)
        close(ends[1])

        let loaded = try AccountSourceLoader.load(AccountSources(configFile: "/proc/self/fd/\(ends[0])"))
        #expect(loaded.directory.accounts.map(\.accountID) == ["sales"])
    }
}
