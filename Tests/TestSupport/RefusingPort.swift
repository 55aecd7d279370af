import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct RefusingPortError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public var description: String { "\(call) failed: errno \(code)" }
}

/// Runs `body` with a TCP port on 127.0.0.1 that refuses every connection and that nothing else
/// can take until `body` returns: a socket bound to it (without SO_REUSEADDR) that never listens,
/// so the kernel answers each connection attempt with a reset.
///
/// Replaces "bind port 0, note the port, close, use it", where any other process (or another
/// test) may bind the freed port in between and answer where the test expects a refusal.
public func withRefusingPort<T>(_ body: (Int) async throws -> T) async throws -> T {
    #if canImport(Glibc)
    let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    #else
    let kind = SOCK_STREAM
    #endif
    let fd = socket(AF_INET, kind, 0)
    guard fd >= 0 else { throw RefusingPortError(call: "socket", code: errno) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw RefusingPortError(call: "bind", code: errno) }
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw RefusingPortError(call: "getsockname", code: errno) }
    return try await body(Int(UInt16(bigEndian: address.sin_port)))
}
