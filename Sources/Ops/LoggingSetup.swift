#if canImport(Glibc)
import Glibc
#endif
import Logging

public enum LogFormat: String, Sendable, CaseIterable {
    case json, text

    /// JSON for machines (containers, systemd), text when a person is watching a terminal.
    public static var automatic: LogFormat { isatty(1) != 0 ? .text : .json }
}

public enum LoggingSetup {
    /// Installs the process-wide handler. swift-log traps on a second bootstrap: call it once.
    public static func bootstrap(format: LogFormat, level: Logger.Level) {
        LogSink.standardOutput.setDropNotice { count in
            LineLogHandler.line(format: format, level: .warning, message: "log lines dropped: the log reader is too slow",
                                label: "xoauth2-proxy", fields: [("dropped", "\(count)")], timestamp: LogTimestamp.now())
        }
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
    }
}
