import Foundation
import Testing
@testable import StateStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("State directory")
struct StateDirectoryTests {
    @Test("a missing directory is created with mode 0700, an existing one is reused")
    func createsDirectory() throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        _ = try StateDirectory(path: temp.path)
        #expect(temp.mode(of: temp.path) == 0o700)
        let again = try StateDirectory(path: temp.path)
        #expect(again.path == temp.path)
    }

    @Test("a file, a missing parent and a read-only directory are refused with the path and errno text")
    func refusesUnusablePaths() throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        _ = try StateDirectory(path: temp.path)
        try temp.writeRaw("x", name: "plain")

        #expect(throws: StateError.notADirectory(path: temp.path + "/plain")) {
            try StateDirectory(path: temp.path + "/plain")
        }
        let missingParent = temp.path + "/no/such"
        do {
            _ = try StateDirectory(path: missingParent)
            Issue.record("missing parent accepted")
        } catch {
            #expect(error == .system(operation: "mkdir", path: missingParent, errno: ENOENT))
            #expect(error.description == "state directory: mkdir \(missingParent): No such file or directory")
        }
        // root may write anywhere, so this part only means something for other users.
        if getuid() != 0 {
            let readOnly = temp.path + "/ro"
            #expect(mkdir(readOnly, 0o500) == 0)
            do {
                _ = try StateDirectory(path: readOnly)
                Issue.record("read-only directory accepted")
            } catch {
                #expect(error == .notWritable(path: readOnly, errno: EACCES))
                #expect(error.description.contains(readOnly))
                #expect(error.description.contains("Permission denied"))
            }
        }
    }

    @Test("write creates a 0600 file, leaves no temporary file, and overwrites")
    func atomicWrite() throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let directory = try StateDirectory(path: temp.path)

        try directory.write(Array("first".utf8), name: "a")
        #expect(temp.entries() == ["a"])
        #expect(temp.mode(of: temp.path + "/a") == 0o600)
        #expect(directory.read(name: "a") == Array("first".utf8))

        try directory.write(Array("second, longer".utf8), name: "a")
        try directory.write([], name: "b")
        #expect(temp.entries() == ["a", "b"])
        #expect(temp.mode(of: temp.path + "/a") == 0o600)
        #expect(directory.read(name: "a") == Array("second, longer".utf8))
        #expect(directory.read(name: "b") == [])
    }

    @Test("missing files read as nil and remove is idempotent")
    func missingAndRemove() throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let directory = try StateDirectory(path: temp.path)
        #expect(directory.read(name: "nothing") == nil)
        #expect(try directory.contents(of: "nothing") == nil)
        try directory.write([1, 2, 3], name: "x")
        try directory.remove(name: "x")
        try directory.remove(name: "x")
        #expect(directory.read(name: "x") == nil)
        #expect(temp.entries().isEmpty)
    }

    @Test("a failed rename removes the temporary file")
    func failedWriteCleansUp() throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let directory = try StateDirectory(path: temp.path)
        #expect(mkdir(temp.path + "/occupied", 0o700) == 0)
        #expect(mkdir(temp.path + "/occupied/child", 0o700) == 0)
        #expect(throws: StateError.self) { try directory.write([1], name: "occupied") }
        #expect(temp.entries() == ["occupied"])
    }

    @Test("unreadable and oversized files throw from contents(of:) and read as nil")
    func unreadable() throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let directory = try StateDirectory(path: temp.path)
        #expect(mkdir(temp.path + "/dir", 0o700) == 0)
        #expect(directory.read(name: "dir") == nil)
        #expect(throws: StateError.self) { try directory.contents(of: "dir") }

        try directory.write([UInt8](repeating: 7, count: StateDirectory.maximumFileSize + 1), name: "big")
        #expect(directory.read(name: "big") == nil)
        do {
            _ = try directory.contents(of: "big")
            Issue.record("oversized file read")
        } catch {
            #expect(error.errno == EFBIG)
        }
        try directory.write([UInt8](repeating: 7, count: StateDirectory.maximumFileSize), name: "big")
        #expect(directory.read(name: "big")?.count == StateDirectory.maximumFileSize)
    }

    @Test("invalid names are refused", arguments: ["", ".hidden", ".tmp-a.1", "..", "a/b", "a\u{0}b", String(repeating: "n", count: 201)])
    func invalidNames(name: String) throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let directory = try StateDirectory(path: temp.path)
        #expect(throws: StateError.invalidName(name)) { try directory.write([1], name: name) }
        #expect(throws: StateError.invalidName(name)) { try directory.remove(name: name) }
        #expect(directory.read(name: name) == nil)
        #expect(temp.entries().isEmpty)
    }

    @Test("temporary files left by a crash are deleted on open, other files kept")
    func leftoversRemoved() throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let directory = try StateDirectory(path: temp.path)
        try directory.write([1], name: "keep")
        try temp.writeRaw("rotated-token", name: ".tmp-keep.abc123")
        _ = try StateDirectory(path: temp.path)
        #expect(temp.entries() == ["keep"])
    }

    @Test("concurrent writes of one name leave one complete version and no temporary files")
    func concurrentWrites() async throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let directory = try StateDirectory(path: temp.path)
        let versions = (0..<16).map { [UInt8](repeating: UInt8($0), count: 4096) }
        await withTaskGroup(of: Void.self) { group in
            for version in versions {
                group.addTask { try? directory.write(version, name: "shared") }
            }
        }
        #expect(versions.contains(directory.read(name: "shared") ?? []))
        #expect(temp.entries() == ["shared"])
    }
}
