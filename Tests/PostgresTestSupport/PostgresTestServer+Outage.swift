import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension PostgresTestServer {
    /// Stops the server the way a crash would (immediate: no checkpoint, clients cut off) and
    /// keeps its data, for tests of a database that goes away. `restartServer()` undoes it.
    ///
    /// Meanwhile the port stays bound, not listening: clients that retry it (a connection pool)
    /// are refused, and no other test's listener can be given the port and receive them.
    public func stopServer() async throws {
        try await Self.run(binaries.pgCtl, ["stop", "-D", directory + "/data", "-m", "immediate", "-w", "-t", "60"],
                           as: account, log: directory + "/pg_ctl-stop.log")
        try portReservation.hold(port)
    }

    /// Starts the stopped server again on its port, with its data.
    public func restartServer() async throws {
        portReservation.release()
        let log = directory + "/postgres-restarted.log"
        let (settled, running) = try await Self.launch(directory: directory, binaries: binaries, account: account, port: port, log: log)
        guard settled, running else {
            throw PostgresTestServerError.failed(settled ? "postgres exited on restart" : "postgres did not become ready on restart", log: Self.tail(of: log))
        }
    }
}

/// A socket bound to 127.0.0.1:port that never listens: connecting to it is refused.
final class PortReservation: @unchecked Sendable {
    // @unchecked: `descriptor` is only touched under `lock`.
    private let lock = NSLock()
    private var descriptor: Int32?

    func hold(_ port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresTestServerError.system("socket", errno) }
        // The stopped server's connections linger in TIME_WAIT on the port.
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        let bound = PostgresTestServer.bindLoopback(fd, port: port)
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw PostgresTestServerError.system("bind 127.0.0.1:\(port)", code)
        }
        lock.withLock {
            if let old = descriptor { close(old) }
            descriptor = fd
        }
    }

    func release() {
        lock.withLock {
            if let fd = descriptor { close(fd) }
            descriptor = nil
        }
    }

    deinit {
        if let fd = descriptor { close(fd) }
    }
}
