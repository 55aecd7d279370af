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

    /// A config or CA file never comes near this; the cap keeps a mistaken path from eating memory.
    static let defaultLimit = 16 * 1024 * 1024

    /// Which kinds of file a read accepts. Devices and sockets never: reading one can block a
    /// reload forever (a tty) or never end (/dev/zero).
    enum Accepting: Sendable {
        /// Regular files: what a mounted Secret and every path inside an account document holds.
        /// A FIFO planted there would otherwise block every reload and `check` on open().
        case regularFiles
        /// Also a pipe or FIFO: a path the operator names on the command line or in the
        /// environment, such as `--config <(vault read …)`.
        case regularFilesAndPipes
    }

    /// Reads the whole file, failing if it exceeds `limit` bytes.
    static func readAll(path: String, limit: Int = defaultLimit, accepting: Accepting = .regularFiles) throws(Failure) -> [UInt8] {
        let bytes = try readPrefix(path: path, count: limit + 1, accepting: accepting)
        guard bytes.count <= limit else {
            throw Failure(reason: "file is larger than \(limit / (1024 * 1024)) MiB")
        }
        return bytes
    }

    /// Reads up to `count` bytes from the start of the file.
    static func readPrefix(path: String, count: Int, accepting: Accepting = .regularFiles) throws(Failure) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO without a writer would otherwise wait for one. The kind is
        // then checked on the open descriptor, so a swap after the check cannot slip one in.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw Failure(reason: currentErrnoDescription()) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw Failure(reason: currentErrnoDescription()) }
        switch (info.st_mode & S_IFMT, accepting) {
        case (S_IFREG, _):
            break
        case (S_IFIFO, .regularFilesAndPipes):
            // A pipe is read as it comes, blocking: its writer is the operator's own command.
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        case (let kind, _):
            throw Failure(reason: "not a regular file (\(describe(fileType: kind)))")
        }

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

    /// What `lstat` says a directory entry is; symlinks are not followed.
    enum EntryKind: Sendable, Equatable {
        case regularFile
        case symbolicLink
        case directory
        case other
    }

    /// The names in a directory, "." and ".." excluded, in no particular order.
    static func entryNames(inDirectory path: String) throws(Failure) -> [String] {
        guard let stream = opendir(path) else { throw Failure(reason: currentErrnoDescription()) }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw Failure(reason: currentErrnoDescription()) }
                break
            }
            let name = withUnsafePointer(to: entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) {
                    String(cString: $0)
                }
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    static func entryKind(atPath path: String) throws(Failure) -> EntryKind {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw Failure(reason: currentErrnoDescription()) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regularFile
        case S_IFLNK: return .symbolicLink
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// Whether the path, symlinks followed, names something that exists.
    static func exists(atPath path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// A symlink's target as stored in the link (not resolved).
    static func symbolicLinkTarget(atPath path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let length = readlink(path, &buffer, buffer.count - 1)
        guard length >= 0 else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func describe(fileType: mode_t) -> String {
        switch fileType {
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFDIR: "a directory"
        default: "not a file"
        }
    }

    private static func currentErrnoDescription() -> String {
        String(cString: strerror(errno))
    }
}
