import Foundation
import Testing
import Accounts

@Suite("Loading from files")
struct FileLoadingTests {
    @Test("a valid file loads")
    func loadsFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("accounts.json")
        try Data(document(.gmail(), .outlook()).utf8).write(to: file)

        let accounts = try AccountsConfigLoader.load(contentsOf: file.path)
        #expect(accounts.accounts.map(\.accountID) == ["sales", "support"])
    }

    @Test("a missing file is a 'cannot read file' error naming the path")
    func missingFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("does-not-exist.json").path

        let error = try #require(loadError(path))
        #expect(error.source == path)
        #expect(error.field == nil)
        #expect(error.index == nil)
        #expect(error.accountID == nil)
        #expect(error.message.hasPrefix("cannot read file: "))
        #expect(error.message.contains("No such file"))
        #expect(error.description.hasPrefix(path + ": cannot read file: "))
    }

    @Test("a directory is not a readable config file")
    func directoryInsteadOfFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }

        let error = try #require(loadError(directory.path))
        #expect(error.source == directory.path)
        #expect(error.field == nil)
        #expect(error.message.hasPrefix("cannot read file: "))
    }

    // root can read a mode-000 file, so the check would be vacuous there.
    @Test("a file without read permission", .disabled(if: getuid() == 0, "running as root bypasses file permissions"))
    func unreadableFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("accounts.json")
        try Data(document(.gmail()).utf8).write(to: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: file.path)

        let error = try #require(loadError(file.path))
        #expect(error.message.hasPrefix("cannot read file: "))
    }

    @Test("errors inside a file name the file as their source")
    func errorSourceIsPath() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("accounts.json")
        try Data(document(AccountJSON.gmail().setting("smtp_port", string: "587")).utf8).write(to: file)

        let error = try #require(loadError(file.path))
        #expect(error.source == file.path)
        #expect(error.field == "smtp_port")
        #expect(error.index == 0)
        #expect(error.accountID == "sales")
    }

    @Test("a bad JSON file reports its line")
    func badJSONFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("accounts.json")
        try Data("{\n\"accounts\": [\n}\n".utf8).write(to: file)

        let error = try #require(loadError(file.path))
        #expect(error.source == file.path)
        #expect(error.position?.line == 3)
        #expect(error.message.hasPrefix("invalid JSON: "))
    }

    @Test("tls_ca_file: a readable PEM file is accepted; relative paths resolve next to accounts.json")
    func caFileRelative() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(samplePEM.utf8).write(to: directory.appendingPathComponent("upstream-ca.pem"))
        let file = directory.appendingPathComponent("accounts.json")
        try Data(document(AccountJSON.custom().setting("tls_ca_file", string: "upstream-ca.pem")).utf8).write(to: file)

        let account = try #require(try AccountsConfigLoader.load(contentsOf: file.path).accounts.first)
        #expect(account.tlsCAFile == directory.appendingPathComponent("upstream-ca.pem").path)
    }

    @Test("tls_ca_file: an absolute path is kept as written")
    func caFileAbsolute() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pem = directory.appendingPathComponent("ca.pem")
        try Data(samplePEM.utf8).write(to: pem)

        let json = document(AccountJSON.custom().setting("tls_ca_file", string: pem.path))
        let account = try #require(try AccountsConfigLoader.parse(json, source: testSource).accounts.first)
        #expect(account.tlsCAFile == pem.path)
    }

    @Test("tls_ca_file problems are reported on the field", arguments: [
        ("missing.pem", "No such file"),
        ("subdirectory", "cannot read"),
        ("not-a-cert.pem", "does not contain a PEM certificate"),
        ("empty.pem", "does not contain a PEM certificate"),
    ])
    func caFileProblems(name: String, expected: String) throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("subdirectory"), withIntermediateDirectories: false)
        try Data("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".utf8).write(to: directory.appendingPathComponent("not-a-cert.pem"))
        try Data().write(to: directory.appendingPathComponent("empty.pem"))

        let json = document(.other, AccountJSON.custom().setting("tls_ca_file", string: name))
        let error = try #require(parseError(json, source: testSource, baseDirectory: directory.path))
        #expect(error.field == "tls_ca_file")
        #expect(error.index == 1)
        #expect(error.accountID == "ops")
        #expect(error.message.contains(expected), "message was: \(error.message)")
        #expect(error.message.contains(directory.appendingPathComponent(name).path), "the resolved path is shown")
    }

    private func loadError(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
        do {
            let directory = try AccountsConfigLoader.load(contentsOf: path)
            Issue.record("expected a ConfigError, got \(directory.count) account(s)", sourceLocation: sourceLocation)
            return nil
        } catch {
            expectNoSecrets(in: error, sourceLocation: sourceLocation)
            return error
        }
    }

    private func parseError(_ json: String, source: String, baseDirectory: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
        do {
            let directory = try AccountsConfigLoader.parse(json, source: source, baseDirectory: baseDirectory)
            Issue.record("expected a ConfigError, got \(directory.count) account(s)", sourceLocation: sourceLocation)
            return nil
        } catch {
            expectNoSecrets(in: error, sourceLocation: sourceLocation)
            return error
        }
    }
}
