#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the process-wide log handler writes.
public enum LogTarget: String, Sendable, CaseIterable {
    /// One line per event on standard output (`LineLogHandler`).
    case stdout
    /// Structured records to the systemd journal (`JournaldLogHandler`).
    case journald

    /// Journald when systemd connected stderr to the journal, standard output otherwise. This is the
    /// check systemd.exec(5) documents for JOURNAL_STREAM: the variable alone is inherited by child
    /// processes and survives redirection, so it is compared with what stderr really is.
    public static var automatic: LogTarget {
        var status = stat()
        guard fstat(2, &status) == 0 else { return .stdout }
        let value = getenv("JOURNAL_STREAM").map { String(cString: $0) }
        return journalStreamMatches(environmentValue: value, stderrDevice: UInt64(status.st_dev),
                                    stderrInode: UInt64(status.st_ino)) ? .journald : .stdout
    }

    /// Whether JOURNAL_STREAM (`<device>:<inode>`, both decimal) names the file stderr is.
    public static func journalStreamMatches(environmentValue: String?, stderrDevice: UInt64, stderrInode: UInt64) -> Bool {
        guard let parts = environmentValue?.split(separator: ":", omittingEmptySubsequences: false), parts.count == 2,
              let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        return device == stderrDevice && inode == stderrInode
    }

    /// The target actually used, and why it differs from the one asked for.
    static func resolve(requested: LogTarget, libraryLoaded: Bool, journalSocketExists: Bool)
        -> (target: LogTarget, fallbackReason: String?) {
        switch requested {
        case .stdout:
            return (.stdout, nil)
        case .journald where !libraryLoaded:
            return (.stdout, "libsystemd.so.0 could not be loaded")
        case .journald where !journalSocketExists:
            // libsystemd reports success and drops the record when the socket is missing.
            return (.stdout, "\(JournaldLogHandler.socketPath) does not exist")
        case .journald:
            return (.journald, nil)
        }
    }
}
