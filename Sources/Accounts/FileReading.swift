#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads small files with plain POSIX calls so failures come back as the short, familiar
/// strerror text ("No such file or directory", "Permission denied", "Is a directory")
/// rather than Foundation's wordier, platform-dependent messages.
enum FileReading {
    struct Failure: Error, Sendable, Equatable {
        var reason: String
    }

    /// A config or CA file never comes near this; the cap keeps a mistaken path such as
    /// /dev/zero from eating memory. Pipes (e.g. `<(vault read …)`) are still accepted.
    static let defaultLimit = 16 * 1024 * 1024

    /// Reads the whole file, failing if it exceeds `limit` bytes.
    static func readAll(path: String, limit: Int = defaultLimit) throws(Failure) -> [UInt8] {
        let bytes = try readPrefix(path: path, count: limit + 1)
        guard bytes.count <= limit else {
            throw Failure(reason: "file is larger than \(limit / (1024 * 1024)) MiB")
        }
        return bytes
    }

    /// Reads up to `count` bytes from the start of the file.
    static func readPrefix(path: String, count: Int) throws(Failure) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(reason: currentErrnoDescription()) }
        defer { close(descriptor) }

        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while result.count < count {
            let wanted = min(chunk.count, count - result.count)
            let got = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, wanted) }
            if got < 0 {
                if errno == EINTR { continue }
                throw Failure(reason: currentErrnoDescription())
            }
            if got == 0 { break }
            result.append(contentsOf: chunk[0..<got])
        }
        return result
    }

    private static func currentErrnoDescription() -> String {
        String(cString: strerror(errno))
    }
}
