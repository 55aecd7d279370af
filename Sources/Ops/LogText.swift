#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers

enum LogTimestamp {
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(spec.tv_nsec / 1_000_000), 3))Z"
    }
}

/// JSON string quoting for hand-built documents (log lines, status pages).
public enum JSONText {
    public static func appendString(_ value: String, to output: inout String) {
        if needsNoEscaping(value) {
            output += "\""
            output += value
            output += "\""
            return
        }
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }

    /// Nearly every value (ids, codes, sizes) needs no escaping: one scan, one append.
    private static func needsNoEscaping(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { bytes in
            for byte in bytes where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return false }
            return true
        }
    }
}

/// Values in text log lines, logfmt style: bare when plain, else in double quotes with `"` and
/// `\` escaped; control characters (C0, DEL, C1) and the Unicode line and paragraph separators
/// always escaped, so nothing a peer sends can start a new line or forge a `key=value` pair.
enum TextLogValue {
    static func append(_ value: String, to output: inout String) {
        if !value.isEmpty, value.unicodeScalars.allSatisfy({ !needsQuotes($0) && !needsEscape($0) }) {
            output += value
            return
        }
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            default: appendScalar(scalar, to: &output)
            }
        }
        output += "\""
    }

    /// Free text (the message): control characters escaped, nothing quoted.
    static func appendEscaped(_ text: String, to output: inout String) {
        guard text.unicodeScalars.contains(where: needsEscape) else {
            output += text
            return
        }
        for scalar in text.unicodeScalars { appendScalar(scalar, to: &output) }
    }

    private static func appendScalar(_ scalar: Unicode.Scalar, to output: inout String) {
        guard needsEscape(scalar) else {
            output.unicodeScalars.append(scalar)
            return
        }
        switch scalar {
        case "\n": output += "\\n"
        case "\r": output += "\\r"
        case "\t": output += "\\t"
        default:
            let hex = String(scalar.value, radix: 16)
            output += "\\u{" + hex + "}"
        }
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    private static func needsQuotes(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "=" || scalar == "\"" || scalar == "\\"
    }
}
