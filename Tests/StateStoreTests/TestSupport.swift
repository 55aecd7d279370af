import Foundation
import StateStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh directory under the system temp dir, deleted by `cleanUp()`.
struct TemporaryDirectory {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
    }

    func cleanUp() {
        chmod(path, 0o700)
        try? FileManager.default.removeItem(atPath: path)
    }

    func entries() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: path).sorted()) ?? []
    }

    func mode(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    func writeRaw(_ text: String, name: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path + "/" + name))
    }
}

/// Records `onCorrupt` calls.
final class CorruptionLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _reports: [(file: String, reason: String)] = []

    var reports: [(file: String, reason: String)] { lock.withLock { _reports } }

    var callback: @Sendable (String, String) -> Void {
        { [self] file, reason in lock.withLock { _reports.append((file, reason)) } }
    }
}
