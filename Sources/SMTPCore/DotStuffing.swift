/// RFC 5321 4.5.2 transparency. The relay never needs these (it forwards bodies as sent); the
/// sandbox stores what a recipient would see and the load tool produces wire bodies.
public enum DotStuffing {
    /// Wire body (without the final `.` line) → message: a leading dot on a line is removed.
    public static func unstuff(_ body: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var atLineStart = true
        var previous: UInt8 = 0
        for byte in body {
            if atLineStart, byte == UInt8(ascii: ".") {
                atLineStart = false
                previous = byte
                continue
            }
            out.append(byte)
            atLineStart = previous == UInt8(ascii: "\r") && byte == UInt8(ascii: "\n")
            previous = byte
        }
        return out
    }

    /// Message → wire body ending in CRLF, ready for the `.` line.
    public static func stuff(_ message: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + 16)
        var atLineStart = true
        var previous: UInt8 = 0
        for byte in message {
            if atLineStart, byte == UInt8(ascii: ".") { out.append(UInt8(ascii: ".")) }
            out.append(byte)
            atLineStart = previous == UInt8(ascii: "\r") && byte == UInt8(ascii: "\n")
            previous = byte
        }
        if !(out.count >= 2 && out[out.count - 2] == UInt8(ascii: "\r") && out[out.count - 1] == UInt8(ascii: "\n")) {
            out += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
        }
        return out
    }
}
