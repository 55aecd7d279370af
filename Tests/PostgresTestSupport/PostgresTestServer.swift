import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL server for tests: initdb in a temporary directory, 127.0.0.1 on a free
/// port, its socket directory inside the temporary one, run as an unprivileged user (initdb and
/// postgres refuse root, and CI runs as root). One per test process (`shared()`); every test
/// takes a fresh database of its own on it (`makeDatabase()`).
///
/// Stopping does not depend on the test process ending cleanly: a janitor shell, started first,
/// waits for end-of-file on a pipe whose only writer is this process (close-on-exec, so no child
/// inherits it). The pipe closes when `stop()` is called or the process exits, however it exits;
/// the janitor then stops the server and removes the directory.
public final class PostgresTestServer: Sendable {
    public static let requireVariable = "XOAUTH2_PROXY_REQUIRE_POSTGRES"
    public static var isRequired: Bool { ProcessInfo.processInfo.environment[requireVariable] == "1" }
    /// For `.enabled(if:)`: run where the binaries are, and where they are required (to fail).
    public static var testsEnabled: Bool { PostgresBinaries.found != nil || isRequired }

    public let host = "127.0.0.1"
    public let port: Int
    public let superuser = "postgres"
    /// Host connections need it (scram-sha-256), so the tests use the password path of a state URL.
    public let password: String
    public let directory: String
    /// The unprivileged account the server runs as (the tests' own when they are not root).
    public let account: (uid: uid_t, gid: gid_t)?
    let binaries: PostgresBinaries
    private let janitor: FileHandle
    /// Holds the port while the server is stopped (`stopServer`).
    let portReservation = PortReservation()

    private init(port: Int, password: String, directory: String, account: (uid: uid_t, gid: gid_t)?, binaries: PostgresBinaries, janitor: FileHandle) {
        self.port = port
        self.password = password
        self.directory = directory
        self.account = account
        self.binaries = binaries
        self.janitor = janitor
    }

    /// Closes the janitor's pipe: it stops the server and removes the directory.
    public func stop() {
        try? janitor.close()
    }

    /// The server every test of this process shares, started by the first test that asks. A
    /// failure to start is kept too, so every test reports it rather than retrying for seconds.
    public static func shared() async throws -> PostgresTestServer {
        try await SharedServer.instance.value
    }

    /// A server of its own, for a test of the harness itself. `stop()` it.
    public static func start() async throws -> PostgresTestServer {
        guard let binaries = PostgresBinaries.found else { throw PostgresTestServerError.binariesMissing }
        let account = try unprivilegedAccount()
        var template = Array("/tmp/xoauth2-pg.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw PostgresTestServerError.system("mkdtemp", errno) }
        let directory = String(cString: made)
        let janitor = try startJanitor(directory: directory, binaries: binaries, account: account)
        do {
            let password = UUID().uuidString
            try FileManager.default.createDirectory(atPath: directory + "/socket", withIntermediateDirectories: false)
            try Data((password + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/password"))
            try give(directory, to: account)
            try await run(binaries.initdb, ["-D", directory + "/data", "-U", "postgres", "--pwfile", directory + "/password",
                                            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C"],
                          as: account, log: directory + "/initdb.log")
            let port = try await startServer(directory: directory, binaries: binaries, account: account)
            return PostgresTestServer(port: port, password: password, directory: directory, account: account, binaries: binaries, janitor: janitor)
        } catch {
            try? janitor.close()
            throw error
        }
    }
}

/// Starts once per process; later callers get the same server or the same error.
private enum SharedServer {
    static let instance = Task<PostgresTestServer, any Error> {
        guard PostgresBinaries.found != nil else { throw PostgresTestServerError.binariesMissing }
        return try await PostgresTestServer.start()
    }
}

public enum PostgresTestServerError: Error, CustomStringConvertible {
    case binariesMissing
    case system(String, Int32)
    case failed(String, log: String)
    case noUnprivilegedAccount

    public var description: String {
        switch self {
        case .binariesMissing:
            "PostgreSQL's initdb, postgres and pg_ctl are neither on PATH nor in /usr/lib/postgresql/*/bin "
                + "(apt-get install postgresql); \(PostgresTestServer.requireVariable)=1 makes that a failure"
        case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
        case .failed(let what, let log): "\(what); its log ends:\n\(log)"
        case .noUnprivilegedAccount: "running as root, and neither the postgres nor the nobody account exists to run the server as"
        }
    }
}
