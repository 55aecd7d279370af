import Foundation
import Testing
@testable import FleetState

@Suite("State URL")
struct FleetStateURLTests {
    @Test("the documented form parses into its parts")
    func full() throws {
        let url = try FleetStateURL(parsing: "postgres://proxy:s3cret@db.example.net:6432/fleet?sslmode=require")
        #expect(url == FleetStateURL(user: "proxy", password: "s3cret", host: "db.example.net", port: 6432, database: "fleet", sslMode: .require))
    }

    @Test("defaults: port 5432, sslmode verify-full, no password; postgresql:// and surrounding whitespace accepted")
    func defaults() throws {
        let url = try FleetStateURL(parsing: "  postgresql://proxy@10.0.0.7/fleet\n")
        #expect(url == FleetStateURL(user: "proxy", password: nil, host: "10.0.0.7", port: 5432, database: "fleet", sslMode: .verifyFull))
    }

    @Test("a password may hold unescaped @ / : and %-escapes; an IPv6 host is bracketed")
    func awkwardPassword() throws {
        let url = try FleetStateURL(parsing: "postgres://proxy:p@ss/w:rd%25x@[fd00::1]:5433/fleet?sslmode=disable")
        #expect(url.password == "p@ss/w:rd%x")
        #expect(url.host == "fd00::1")
        #expect(url.port == 5433)
        #expect(url.sslMode == .disable)
        #expect(url.description == "postgres://proxy:<redacted>@[fd00::1]:5433/fleet?sslmode=disable")
    }

    @Test("user and database are %-decoded, and shown escaped")
    func escapes() throws {
        let url = try FleetStateURL(parsing: "postgres://my%20user@db/my%2Fdb?sslmode=disable")
        #expect(url.user == "my user")
        #expect(url.database == "my/db")
        #expect(url.description == "postgres://my%20user@db:5432/my%2Fdb?sslmode=disable")
    }

    static let refusals: [(String, FleetStateURLError)] = [
        ("", .empty),
        ("mysql://u:SECRETPW@h/db", .invalid(field: .scheme, rule: "must be postgres:// or postgresql://")),
        ("u:SECRETPW@h/db", .invalid(field: .scheme, rule: "must start with postgres:// or postgresql://")),
        ("postgres://h/db", .missing(.user)),
        ("postgres://:SECRETPW@h/db", .missing(.user)),
        ("postgres://u:SECRETPW@/db", .missing(.host)),
        ("postgres://u:SECRETPW@h", .missing(.database)),
        ("postgres://u:SECRETPW@h/", .missing(.database)),
        ("postgres://u:SECRETPW@h/a/b", .invalid(field: .database, rule: "must be one name, %-escaped where needed")),
        ("postgres://u:SECRETPW@h:SECRETPW/db", .invalid(field: .port, rule: "must be a number from 1 to 65535")),
        ("postgres://u:SECRETPW@h:0/db", .invalid(field: .port, rule: "must be a number from 1 to 65535")),
        ("postgres://u:SECRETPW@h:65536/db", .invalid(field: .port, rule: "must be a number from 1 to 65535")),
        ("postgres://u:SECRET%zzPW@h/db", .invalid(field: .password, rule: "has a malformed %-escape")),
        ("postgres://u:SECRETPW@h o/db", .invalid(field: .host, rule: "must be a host name or an IP address")),
        ("postgres://u:SECRETPW@fd00::1/db", .invalid(field: .host, rule: "must be in brackets when it is an IPv6 address")),
        ("postgres://u:SECRETPW@[fd00::1/db", .invalid(field: .host, rule: "has an unclosed [ of an IPv6 address")),
        ("postgres://u:SECRETPW@h/db?sslmode=SECRETPW", .invalid(field: .sslMode, rule: "must be one of disable, require, verify-full")),
        ("postgres://u:SECRETPW@h/db?sslmode=disable&sslmode=require", .invalid(field: .sslMode, rule: "is given twice")),
        ("postgres://u:SECRETPW@h/db?password=SECRETPW", .invalid(field: .query, rule: "accepts only sslmode")),
        // A typo that leaves the password where the host goes: the error must not show it.
        ("postgres://u@SECRET PW/db", .invalid(field: .host, rule: "must be a host name or an IP address")),
    ]

    @Test("malformed URLs are refused naming the field, and no error quotes the URL", arguments: refusals)
    func refused(text: String, expected: FleetStateURLError) {
        #expect(throws: expected) { try FleetStateURL(parsing: text) }
        do {
            _ = try FleetStateURL(parsing: text)
        } catch {
            #expect(!error.description.contains("SECRET"), "\(error)")
        }
    }

    @Test("description never shows the password")
    func redacted() throws {
        let url = try FleetStateURL(parsing: "postgres://proxy:hunter2@db/fleet")
        #expect(!url.description.contains("hunter2"))
        #expect(url.description.contains("<redacted>"))
        #expect(!"\(url)".contains("hunter2"))
    }

    @Test("the URL is read from a file (a mounted Secret), its trailing newline ignored")
    func fromFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/url"
        try Data("postgres://proxy:from-file@db:5432/fleet?sslmode=disable\n".utf8).write(to: URL(fileURLWithPath: path))
        let url = try FleetStateURL(contentsOfFile: path)
        #expect(url.password == "from-file")

        #expect(throws: FleetStateURLError.unreadableFile(path: directory + "/absent", reason: "No such file or directory")) {
            try FleetStateURL(contentsOfFile: directory + "/absent")
        }
        try Data(repeating: UInt8(ascii: "a"), count: FleetStateURL.maximumFileSize + 1).write(to: URL(fileURLWithPath: path))
        #expect(throws: FleetStateURLError.fileTooLarge(path: path, limit: FleetStateURL.maximumFileSize)) {
            try FleetStateURL(contentsOfFile: path)
        }
        try Data("postgres://proxy:SECRETPW@db:99999/fleet".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try FleetStateURL(contentsOfFile: path)
            Issue.record("a bad port was accepted")
        } catch {
            #expect(error == .invalid(field: .port, rule: "must be a number from 1 to 65535"))
            #expect(!error.description.contains("SECRETPW"))
        }
    }

    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-url-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }
}
