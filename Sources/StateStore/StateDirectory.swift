#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A flat directory of small files, each replaced atomically and durably.
///
/// **All methods block on file IO (including `fsync`).** Never call them on a NIO event loop:
/// run them on a thread that may block, e.g. `NIOThreadPool.runIfActive` or a task on a
/// dedicated executor. They are safe to call from several threads at once; concurrent writes
/// of one name end with one complete version (the last rename wins), never a mix.
///
/// A state directory belongs to one process: `init` deletes temporary files left behind by a
/// crash mid-write, which would break a write in flight in another process sharing the directory.
///
/// Files are created 0600. An existing directory's mode is left alone (a Kubernetes emptyDir or
/// PVC mount decides it); a directory created here is 0700.
public final class StateDirectory: Sendable {
    /// The directory, as given.
    public let path: String

    /// Largest file `read` returns; state files are a few hundred bytes to a few KiB.
    public static let maximumFileSize = 1024 * 1024

    static let temporaryPrefix = ".tmp-"

    /// Opens `path`, creating it (mode 0700; the parent must exist) if missing.
    /// - Throws: if `path` is not a directory, or not one this process can create files in.
    public init(path: String) throws(StateError) {
        self.path = path
        if mkdir(path, 0o700) == 0 {
            // mkdir's mode is filtered by the umask; make it exactly 0700.
            guard chmod(path, 0o700) == 0 else { throw .system(operation: "chmod", path: path, errno: errno) }
        } else {
            let code = errno
            guard code == EEXIST else { throw .system(operation: "mkdir", path: path, errno: code) }
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw .system(operation: "stat", path: path, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw .notADirectory(path: path) }
        guard access(path, W_OK | X_OK) == 0 else { throw .notWritable(path: path, errno: errno) }
        removeLeftoverTemporaryFiles()
    }

    // MARK: - Files

    /// Replaces file `name` with `bytes`: after it returns, a crash leaves either the old or the new
    /// content, never a mix, and the new content survives a power loss.
    ///
    /// Writes a temporary file in the same directory (O_CREAT|O_EXCL, mode 0600), fsyncs it, renames
    /// it over `name` and fsyncs the directory. On failure the temporary file is removed.
    public func write(_ bytes: [UInt8], name: String) throws(StateError) {
        try Self.validate(name)
        let target = filePath(name)
        let (descriptor, temporary) = try createTemporaryFile(for: name)
        do throws(StateError) {
            defer { close(descriptor) }
            // The creation mode is filtered by the umask; make it exactly 0600.
            guard fchmod(descriptor, 0o600) == 0 else { throw .system(operation: "fchmod", path: temporary, errno: errno) }
            try Self.writeAll(bytes, to: descriptor, path: temporary)
            guard fsync(descriptor) == 0 else { throw .system(operation: "fsync", path: temporary, errno: errno) }
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, target) == 0 else {
            let code = errno
            unlink(temporary)
            throw .system(operation: "rename", path: target, errno: code)
        }
        try syncDirectory()
    }

    /// The content of file `name`, or nil if it is missing, unreadable, larger than
    /// `maximumFileSize` or `name` is invalid. Use `contents(of:)` to tell these apart.
    public func read(name: String) -> [UInt8]? {
        (try? contents(of: name)) ?? nil
    }

    /// The content of file `name`, or nil if it does not exist.
    /// - Throws: if it exists but cannot be read or exceeds `maximumFileSize`.
    public func contents(of name: String) throws(StateError) -> [UInt8]? {
        try Self.validate(name)
        let target = filePath(name)
        let descriptor = open(target, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { return nil }
            throw .system(operation: "open", path: target, errno: code)
        }
        defer { close(descriptor) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let got = chunk.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .system(operation: "read", path: target, errno: errno)
            }
            if got == 0 { return result }
            result.append(contentsOf: chunk[0..<got])
            if result.count > Self.maximumFileSize { throw .system(operation: "read", path: target, errno: EFBIG) }
        }
    }

    /// Deletes file `name`; a missing file is not an error.
    public func remove(name: String) throws(StateError) {
        try Self.validate(name)
        let target = filePath(name)
        guard unlink(target) == 0 else {
            let code = errno
            if code == ENOENT { return }
            throw .system(operation: "unlink", path: target, errno: code)
        }
        try syncDirectory()
    }

    // MARK: - Naming

    /// The file name for one account's state of one kind: `"<kind>-<32 hex digits>"`.
    ///
    /// The digits are the 128-bit FNV-1a hash of the lower-cased email's UTF-8 bytes, so no email
    /// (nor anything secret) appears in a directory listing. FNV-1a is not cryptographic: it is not
    /// meant to hide *which* of a list of known emails a file belongs to (nothing unsalted could),
    /// only to keep names opaque, stable across restarts and platforms, and distinct: the chance of
    /// any collision among n accounts is about n²/2¹²⁹, i.e. below 10⁻³⁰ for 10,000 accounts.
    /// `kind` should be a short [a-z0-9-] tag such as "refresh-token".
    public static func fileName(forAccountEmail email: String, kind: String) -> String {
        "\(kind)-" + FNV1a128.hex(of: Array(email.lowercased().utf8))
    }

    // MARK: - Internals

    func filePath(_ name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }

    static func validate(_ name: String) throws(StateError) {
        guard !name.isEmpty, name.utf8.count <= 200, !name.hasPrefix("."),
              !name.utf8.contains(UInt8(ascii: "/")), !name.utf8.contains(0) else {
            throw .invalidName(name)
        }
    }

    private func createTemporaryFile(for name: String) throws(StateError) -> (Int32, String) {
        var attempts = 0
        while true {
            let suffix = String(UInt64.random(in: .min ... .max), radix: 16)
            let temporary = filePath("\(Self.temporaryPrefix)\(name).\(suffix)")
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if descriptor >= 0 { return (descriptor, temporary) }
            let code = errno
            attempts += 1
            guard (code == EEXIST || code == EINTR) && attempts < 8 else {
                throw .system(operation: "create", path: temporary, errno: code)
            }
        }
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws(StateError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw .system(operation: "write", path: path, errno: errno)
            }
            offset += written
        }
    }

    /// Makes renames and unlinks in the directory durable. Filesystems that cannot fsync a
    /// directory (EINVAL) are accepted: there is nothing more to do on them.
    private func syncDirectory() throws(StateError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            let code = errno
            if code == EINVAL { return }
            throw .system(operation: "fsync", path: path, errno: code)
        }
    }

    /// Deletes `.tmp-*` files: a crash between creating and renaming one leaves it behind,
    /// and it may hold a refresh token.
    private func removeLeftoverTemporaryFiles() {
        guard let directory = opendir(path) else { return }
        defer { closedir(directory) }
        var leftovers: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(Self.temporaryPrefix) { leftovers.append(name) }
        }
        for name in leftovers { unlink(filePath(name)) }
    }
}

// Free functions, so that `read`/`write` mean the POSIX calls rather than the methods above.
private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}
