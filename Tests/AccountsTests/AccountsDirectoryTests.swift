import TestSupport
import Foundation
import Testing
import Accounts

@Suite("Accounts directory (mounted Secret)")
struct AccountsDirectorySourceTests {
    @Test("a Kubernetes Secret mount loads each account once, files in name order")
    func kubernetesLayout() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var mount = SecretMount(root: root)
        // One file with a single account object, one with a list: both forms are accepted.
        try mount.update([
            "sales.json": AccountJSON.gmail().json,
            "team.json": document(.outlook(), .other),
        ])

        let loaded = try AccountSourceLoader.load(AccountSources(accountsDirectory: mount.path))
        #expect(loaded.directory.accounts.map(\.accountID) == ["sales", "support", "other"])
        #expect(loaded.origins == [
            "sales": root.appendingPathComponent("sales.json").path,
            "support": root.appendingPathComponent("team.json").path + " (account 1)",
            "other": root.appendingPathComponent("team.json").path + " (account 2)",
        ])
        // The key paths are watched, never the versioned folders behind them.
        #expect(loaded.watchPaths == [
            root.path,
            root.appendingPathComponent("sales.json").path,
            root.appendingPathComponent("team.json").path,
        ])
    }

    @Test("after an atomic ..data swap the new content loads, and the fingerprint changes")
    func atomicSwap() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var mount = SecretMount(root: root)
        try mount.update(["sales.json": AccountJSON.gmail().json])
        let before = try AccountSourceLoader.load(AccountSources(accountsDirectory: mount.path))
        #expect(before.directory.accounts.first?.smtpPort == 587)

        try mount.update(["sales.json": AccountJSON.gmail().setting("smtp_port", raw: "2525").json])
        let after = try AccountSourceLoader.load(AccountSources(accountsDirectory: mount.path))
        #expect(after.directory.count == 1)
        #expect(after.directory.accounts.first?.smtpPort == 2525)
        #expect(after.fingerprint != before.fingerprint)
        #expect(after.watchPaths == before.watchPaths)
    }

    @Test("a key added and a key removed by an update")
    func keysAddedAndRemoved() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var mount = SecretMount(root: root)
        try mount.update(["sales.json": AccountJSON.gmail().json, "support.json": AccountJSON.outlook().json])

        // Mid-update: ..data already points at the new version, the removed key's symlink
        // still exists and dangles. That key is skipped rather than failing the reload.
        try mount.update(["sales.json": AccountJSON.gmail().json, "other.json": AccountJSON.other.json], removeStaleKeys: false)
        let midway = try AccountSourceLoader.load(AccountSources(accountsDirectory: mount.path))
        #expect(midway.directory.accounts.map(\.accountID) == ["other", "sales"])

        try mount.update(["sales.json": AccountJSON.gmail().json, "other.json": AccountJSON.other.json])
        let done = try AccountSourceLoader.load(AccountSources(accountsDirectory: mount.path))
        #expect(done.directory.accounts.map(\.accountID) == ["other", "sales"])
        #expect(!done.watchPaths.contains(root.appendingPathComponent("support.json").path))
    }

    @Test("hidden files, non-.json files and subdirectories are ignored")
    func ignoredEntries() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try root.writing(AccountJSON.gmail().json, to: "sales.json")
        _ = try root.writing("{ not json", to: ".hidden.json")
        _ = try root.writing("{ not json", to: ".sales.json.swp")
        _ = try root.writing("{ not json", to: "notes.txt")
        _ = try root.writing("{ not json", to: "sales.json.bak")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("archive.json"), withIntermediateDirectories: false)

        let loaded = try AccountSourceLoader.load(AccountSources(accountsDirectory: root.path))
        #expect(loaded.directory.accounts.map(\.accountID) == ["sales"])
        #expect(loaded.watchPaths == [root.path, root.appendingPathComponent("sales.json").path])
    }

    @Test("a plain symlink to a file elsewhere is followed")
    func plainSymlink() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let elsewhere = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        let target = try elsewhere.writing(AccountJSON.gmail().json, to: "real.json")
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("sales.json").path, withDestinationPath: target.path)

        let loaded = try AccountSourceLoader.load(AccountSources(accountsDirectory: root.path))
        #expect(loaded.directory.accounts.map(\.accountID) == ["sales"])
    }

    @Test("a broken symlink that is not a Secret key is an error naming the file")
    func brokenSymlink() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let link = root.appendingPathComponent("sales.json").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/nonexistent/sales.json")

        let error = try #require(sourceError(AccountSources(accountsDirectory: root.path)))
        #expect(error.source == link)
        #expect(error.message.hasPrefix("cannot read file: "))
    }

    @Test("an empty directory, or one with only ignored files, is an error naming the directory", arguments: [false, true])
    func emptyDirectory(withIgnoredFiles: Bool) throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        if withIgnoredFiles {
            _ = try root.writing(AccountJSON.gmail().json, to: ".hidden.json")
            _ = try root.writing(AccountJSON.gmail().json, to: "sales.yaml")
        }

        let error = try #require(sourceError(AccountSources(accountsDirectory: root.path)))
        #expect(error.source == root.path)
        #expect(error.message.contains("no account files"))
        #expect(error.message.contains("*.json"))
    }

    @Test("a missing directory is an error naming it")
    func missingDirectory() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let missing = root.appendingPathComponent("nope").path

        let error = try #require(sourceError(AccountSources(accountsDirectory: missing)))
        #expect(error.source == missing)
        #expect(error.message == "cannot read directory: No such file or directory")
    }

    @Test("errors inside a key file name the key path, without any secret")
    func errorNamesKeyPath() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var mount = SecretMount(root: root)
        try mount.update([
            "a.json": AccountJSON.outlook().json,
            "sales.json": AccountJSON.gmail().setting("smtp_port", raw: "\"587\"").json,
        ])

        let error = try #require(sourceError(AccountSources(accountsDirectory: mount.path)))
        #expect(error.source == root.appendingPathComponent("sales.json").path)
        #expect(error.accountID == "sales")
        #expect(error.index == nil, "a single-account file has no position")
        #expect(error.field == "smtp_port")
        #expect(error.description.hasPrefix(root.appendingPathComponent("sales.json").path + ": account \"sales\": field \"smtp_port\": "))
    }

    @Test("a key file holding something that is no account document")
    func wrongTopLevel() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try root.writing(jsonString(Secrets.refreshToken), to: "sales.json")

        let error = try #require(sourceError(AccountSources(accountsDirectory: root.path)))
        #expect(error.message.contains("an account object, an array of accounts"))
    }

    @Test("the same email in two key files names both files")
    func duplicateAcrossKeys() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try root.writing(AccountJSON.gmail().json, to: "a.json")
        _ = try root.writing(document(.outlook(), .gmail(id: "sales-2", email: "SALES@example.com")), to: "b.json")

        let error = try #require(sourceError(AccountSources(accountsDirectory: root.path)))
        let a = root.appendingPathComponent("a.json").path
        let b = root.appendingPathComponent("b.json").path
        #expect(error.source == b)
        #expect(error.field == "email")
        #expect(error.message.hasPrefix("\"SALES@example.com\" is defined in \(a) and in \(b) (account 2)"))
    }
}
