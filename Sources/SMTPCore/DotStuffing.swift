/// RFC 5321 4.5.2 transparency. The relay never needs these (it forwards bodies as sent); the
/// sandbox stores what a recipient would see and the load tool produces wire bodies.
public enum DotStuffing {
    /// Wire body (without the final `.` line) → message: a leading dot on a line is removed.
    public static func unstuff(_ body: some Collection<UInt8>) -> [UInt8] {
        // Byte-wise through a generic collection costs a witness call per byte; the sandbox
        // unstuffs every message it stores.
        if let out = body.withContiguousStorageIfAvailable({ unstuff(contiguous: $0) }) { return out }
        return Array(body).withUnsafeBufferPointer { unstuff(contiguous: $0) }
    }

    private static func unstuff(contiguous bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        let dot = UInt8(ascii: "."), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        // Bytes are copied in runs; a run ends before each dot that starts a line.
        var runStart = bytes.first == dot ? 1 : 0
        var index = runStart + 1
        while index + 1 < bytes.count {
            if bytes[index] == lf, bytes[index - 1] == cr, bytes[index + 1] == dot {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...index]))
                runStart = index + 2
                index += 2
            } else {
                index += 1
            }
        }
        if runStart < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...])) }
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
