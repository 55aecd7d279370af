#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The sd_notify protocol without libsystemd: one AF_UNIX datagram of newline-separated
/// `NAME=value` lines to the socket named by NOTIFY_SOCKET. systemd documents it as a stable
/// interface meant to be reimplemented; this covers filesystem paths and abstract `@` names.
enum NotifyDatagram {
    /// The socket address for NOTIFY_SOCKET, or nil for a form this does not speak (such as `vsock:`).
    static func address(_ socket: String) -> (sockaddr_un, socklen_t)? {
        var path = Array(socket.utf8)
        guard let first = path.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else { return nil }
        let abstract = first == UInt8(ascii: "@")
        if abstract { path[0] = 0 } else { path.append(0) }
        var address = sockaddr_un()
        guard path.count <= MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        // An abstract name is exactly its bytes, no terminating NUL, so the length must say where it ends.
        let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        return (address, socklen_t(offset + path.count))
    }

    /// Sends without waiting: if the manager's queue is full the message is dropped, never the caller blocked.
    static func send(_ message: String, to socket: String) -> Bool {
        guard let (target, length) = address(socket) else { return false }
        var address = target
        #if canImport(Glibc)
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let flags = Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)
        #else
        let fd = Darwin.socket(AF_UNIX, SOCK_DGRAM, 0)
        let flags = Int32(MSG_DONTWAIT)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let sent = message.utf8CString.withUnsafeBufferPointer { bytes in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    sendto(fd, bytes.baseAddress, bytes.count - 1, flags, socketAddress, length)
                }
            }
        }
        return sent == message.utf8.count
    }
}
