#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import Ops

/// A stand-in for the service manager's notify socket: a bound AF_UNIX datagram socket.
final class NotifySocketFixture: @unchecked Sendable {
    let name: String
    private let fd: Int32

    /// `abstract`: bind in the abstract namespace and name it `@...`, as systemd sometimes does.
    init(abstract: Bool = false) throws {
        let unique = "xoauth2-notify-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        name = abstract ? "@" + unique : "/tmp/\(unique).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FixtureError.system("socket", errno) }
        // A missing datagram fails the test after a minute instead of hanging it (generous: a
        // loaded CI machine may take a while to run the sending task; a working build never waits).
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let (target, length) = NotifyDatagram.address(name) else { throw FixtureError.address(name) }
        var address = target
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw FixtureError.system("bind", errno) }
    }

    deinit {
        close(fd)
        if !name.hasPrefix("@") { unlink(name) }
    }

    /// The next datagram as text, or nil after the timeout.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// `receive` on a thread of its own: blocking a concurrency thread while the sender is a
    /// task would starve that task on a busy 2-core machine.
    func receiveOffPool() async -> String? {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: self.receive()) }
            thread.start()
        }
    }

    enum FixtureError: Error {
        case system(String, Int32)
        case address(String)
    }
}
