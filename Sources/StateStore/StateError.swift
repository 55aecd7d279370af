#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A state-directory failure. Messages name the path and the strerror text, never file contents.
public enum StateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `operation` (e.g. "mkdir", "open", "rename") failed on `path` with `errno`.
    case system(operation: String, path: String, errno: Int32)
    /// `path` exists but is not a directory.
    case notADirectory(path: String)
    /// `path` is a directory this process cannot create files in.
    case notWritable(path: String, errno: Int32)
    /// A file name that is empty, too long, starts with "." (reserved for temporary files) or contains "/" or NUL.
    case invalidName(String)
    /// A value could not be encoded for `path` (a programming error, not an IO one).
    case encodingFailed(path: String)

    public var description: String {
        switch self {
        case .system(let operation, let path, let code):
            return "state directory: \(operation) \(path): \(Self.text(code))"
        case .notADirectory(let path):
            return "state directory \(path): not a directory"
        case .notWritable(let path, let code):
            return "state directory \(path): not writable: \(Self.text(code))"
        case .invalidName(let name):
            return "state directory: invalid file name \"\(name)\""
        case .encodingFailed(let path):
            return "state directory: could not encode \(path)"
        }
    }

    /// The errno behind the failure, if there is one.
    public var errno: Int32? {
        switch self {
        case .system(_, _, let code), .notWritable(_, let code): return code
        case .notADirectory, .invalidName, .encodingFailed: return nil
        }
    }

    static func text(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
