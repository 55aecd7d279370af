import Logging

/// The journal's native record: `NAME=value` fields, with names as journald requires them.
enum JournaldFields {
    /// syslog(3) priorities, which journald stores in PRIORITY and `journalctl -p` filters on.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Fields the handler sets itself or that journald gives a meaning; metadata never overrides them.
    static let reservedNames: Set<String> = [
        "MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "SYSLOG_PID",
        "SYSLOG_TIMESTAMP", "SYSLOG_RAW", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "ERRNO", "TID",
        "INVOCATION_ID", "USER_INVOCATION_ID", "UNIT", "USER_UNIT", "DOCUMENTATION", "LOGGER",
    ]

    /// A metadata key as a journal field name: journald accepts only `[A-Z0-9_]`, at most 64
    /// characters, starting with a letter (a leading `_` marks fields only journald itself may set,
    /// so a client's are dropped). Anything else, or a reserved name, gets an `X_` prefix.
    static func fieldName(_ key: String) -> String {
        var name = String(String.UnicodeScalarView(key.unicodeScalars.map { scalar -> Unicode.Scalar in
            switch scalar {
            case "a"..."z": Unicode.Scalar(scalar.value - 32) ?? "_"
            case "A"..."Z", "0"..."9", "_": scalar
            default: "_"
            }
        }))
        let startsWithLetter = name.unicodeScalars.first.map { ("A"..."Z").contains($0) } ?? false
        if !startsWithLetter || reservedNames.contains(name) { name = "X_" + name }
        return String(name.prefix(64))
    }

    static func fields(level: Logger.Level, message: String, label: String, metadata: [(String, String)],
                       file: String, function: String, line: UInt) -> [String] {
        var fields = [
            "MESSAGE=\(message)",
            "PRIORITY=\(priority(level))",
            "SYSLOG_IDENTIFIER=xoauth2-proxy",
            "LOGGER=\(label)",
            "CODE_FILE=\(file)",
            "CODE_LINE=\(line)",
            "CODE_FUNC=\(function)",
        ]
        for (key, value) in metadata { fields.append("\(fieldName(key))=\(value)") }
        return fields
    }
}
