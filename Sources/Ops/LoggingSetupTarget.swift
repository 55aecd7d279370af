#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

extension LoggingSetup {
    /// Installs the process-wide handler for `target`, falling back to standard output with one
    /// warning when journald was asked for but cannot be reached. Returns the target in use.
    /// `format` applies to standard output only. Like `bootstrap(format:level:)`, call it once.
    @discardableResult
    public static func bootstrap(target: LogTarget, format: LogFormat, level: Logger.Level) -> LogTarget {
        let library = target == .journald ? SystemdLibrary.shared : nil
        let choice = LogTarget.resolve(requested: target, libraryLoaded: library != nil,
                                       journalSocketExists: access(JournaldLogHandler.socketPath, F_OK) == 0)
        if choice.target == .journald, let library {
            LoggingSystem.bootstrap { label in
                var handler = JournaldLogHandler(label: label, library: library)
                handler.logLevel = level
                return handler
            }
        } else {
            bootstrap(format: format, level: level)
        }
        if let reason = choice.fallbackReason {
            Logger(label: "xoauth2-proxy").warning("journald logging unavailable, logging to standard output",
                                                   metadata: ["reason": "\(reason)"])
        }
        return choice.target
    }
}
