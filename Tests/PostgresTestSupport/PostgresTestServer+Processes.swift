import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension PostgresTestServer {
    /// Root cannot run the server: the distribution's postgres account if there is one, else
    /// nobody. (Not the deployed uid 65532: initdb needs the account in /etc/passwd.)
    static func unprivilegedAccount() throws -> (uid: uid_t, gid: gid_t)? {
        guard geteuid() == 0 else { return nil }
        for name in ["postgres", "nobody"] {
            if let entry = getpwnam(name) { return (entry.pointee.pw_uid, entry.pointee.pw_gid) }
        }
        throw PostgresTestServerError.noUnprivilegedAccount
    }

    static func give(_ directory: String, to account: (uid: uid_t, gid: gid_t)?) throws {
        guard let account else { return }
        var paths = [directory]
        if let enumerator = FileManager.default.enumerator(atPath: directory) {
            paths += enumerator.compactMap { ($0 as? String).map { directory + "/" + $0 } }
        }
        for path in paths where lchown(path, account.uid, account.gid) != 0 {
            throw PostgresTestServerError.system("chown \(path)", errno)
        }
    }

    /// `program arguments`, as `account` when there is one.
    static func command(_ program: String, _ arguments: [String], as account: (uid: uid_t, gid: gid_t)?) throws -> [String] {
        guard let account else { return [program] + arguments }
        let setpriv = ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let setpriv else { throw PostgresTestServerError.failed("running as root, but setpriv (util-linux) is missing", log: "") }
        return [setpriv, "--reuid", "\(account.uid)", "--regid", "\(account.gid)", "--clear-groups", "--", program] + arguments
    }

    static func process(_ command: [String], log: String?) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardInput = FileHandle.nullDevice
        if let log {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        return process
    }

    /// Runs a program to its end; fails with its log when it fails.
    static func run(_ program: String, _ arguments: [String], as account: (uid: uid_t, gid: gid_t)?, log: String) async throws {
        let process = try process(try command(program, arguments, as: account), log: log)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        guard status == 0 else {
            throw PostgresTestServerError.failed("\(URL(fileURLWithPath: program).lastPathComponent) exited with \(status)", log: tail(of: log))
        }
    }

    /// The janitor (see the type's comment). Its stdin pipe is this process's only handle on it.
    static func startJanitor(directory: String, binaries: PostgresBinaries, account: (uid: uid_t, gid: gid_t)?) throws -> FileHandle {
        let script = """
            trap '' INT HUP TERM
            dir=$1; shift
            read -r _ || true
            "$@" stop -D "$dir/data" -m immediate -w -t 60 >/dev/null 2>&1 || true
            rm -rf "$dir"
            """
        let janitor = try process(["/bin/sh", "-c", script, "janitor", directory] + command(binaries.pgCtl, [], as: account), log: nil)
        let pipe = Pipe()
        for fd in [pipe.fileHandleForReading.fileDescriptor, pipe.fileHandleForWriting.fileDescriptor] {
            guard fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else { throw PostgresTestServerError.system("fcntl", errno) }
        }
        janitor.standardInput = pipe
        try janitor.run()
        try pipe.fileHandleForReading.close()
        return pipe.fileHandleForWriting
    }

    /// Starts postgres on a free port and waits until it accepts connections. Another process
    /// can take the port between our probe and the server's bind; then it tries another.
    static func startServer(directory: String, binaries: PostgresBinaries, account: (uid: uid_t, gid: gid_t)?) async throws -> Int {
        let log = directory + "/postgres.log"
        for attempt in 1...5 {
            let port = try freePort()
            let (settled, running) = try await launch(directory: directory, binaries: binaries, account: account, port: port, log: log)
            if settled, running { return port }
            let text = tail(of: log)
            guard !running, text.contains("could not bind") || text.contains("already in use"), attempt < 5 else {
                throw PostgresTestServerError.failed(settled ? "postgres exited" : "postgres did not become ready", log: text)
            }
        }
        throw PostgresTestServerError.failed("postgres found no free port", log: tail(of: log))
    }

    /// Runs postgres on `port` until it is ready or has exited; one that does neither is terminated.
    static func launch(directory: String, binaries: PostgresBinaries, account: (uid: uid_t, gid: gid_t)?,
                       port: Int, log: String) async throws -> (settled: Bool, running: Bool) {
        let arguments = ["-D", directory + "/data", "-p", "\(port)", "-k", directory + "/socket",
                         "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
                         // Throwaway data: no durability, less disk traffic on a busy CI machine.
                         "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        let server = try process(try command(binaries.postgres, arguments, as: account), log: log)
        try server.run()
        let pidFile = directory + "/data/postmaster.pid"
        let settled = await eventually(within: .seconds(120), every: .milliseconds(20)) {
            !server.isRunning || isReady(pidFile: pidFile, port: port)
        }
        if settled, server.isRunning { return (true, true) }
        if server.isRunning { server.terminate() }
        return (settled, server.isRunning)
    }

    /// postmaster.pid's fourth line is the port, its eighth the status ("ready" once it accepts).
    static func isReady(pidFile: String, port: Int) -> Bool {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8) else { return false }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return lines.count >= 8 && lines[3] == "\(port)" && lines[7] == "ready"
    }

    static func tail(of log: String) -> String {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? "(no log)"
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresTestServerError.system("socket", errno) }
        defer { close(fd) }
        guard bindLoopback(fd, port: 0) == 0 else { throw PostgresTestServerError.system("bind", errno) }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        guard named == 0 else { throw PostgresTestServerError.system("getsockname", errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// bind(2) to 127.0.0.1:port (0: a free one); its result, errno set on failure.
    static func bindLoopback(_ fd: Int32, port: Int) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}
