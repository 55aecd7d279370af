#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One libFuzzer input, cut into a control tape (decisions: split points, reply codes,
/// limits) and a payload (the bytes under test).
///
/// The first byte says how long the tape is (`byte % (maxControl + 1)`), so the fuzzer can
/// grow or shrink either part, and a seed that is plain text with a first byte of 0 is pure
/// payload. Reading past the end of the tape yields nil: every target then falls back to a
/// default decision (one chunk, the natural reply), so short inputs stay meaningful.
public struct FuzzInput {
    public let control: [UInt8]
    public let payload: [UInt8]
    private var cursor = 0

    public init(_ start: UnsafeRawPointer, _ count: Int, maxControl: Int = 63) {
        let all = Array(UnsafeRawBufferPointer(start: start, count: count))
        guard let first = all.first else {
            control = []
            payload = []
            return
        }
        let length = min(Int(first) % (maxControl + 1), all.count - 1)
        control = Array(all[1..<(1 + length)])
        payload = Array(all[(1 + length)...])
    }

    /// The next control byte, or nil once the tape is used up.
    public mutating func nextControl() -> UInt8? {
        guard cursor < control.count else { return nil }
        defer { cursor += 1 }
        return control[cursor]
    }

    /// The length of the next read when `remaining` bytes are left, chosen as `chunks` does.
    public mutating func nextReadLength(remaining: Int) -> Int {
        guard let byte = nextControl() else { return remaining }
        return min(remaining, byte >= 0xF0 ? Int(byte - 0xF0 + 1) * 256 : 1 + Int(byte) % 48)
    }

    /// Cuts `bytes` into reads the way a socket might deliver them: each control byte gives
    /// one read's length (1...48, or up to 4 KiB when its high bits are set); once the tape
    /// runs out, the rest is one read.
    public mutating func chunks(of bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var start = 0
        while start < bytes.count {
            let end = start + nextReadLength(remaining: bytes.count - start)
            result.append(bytes[start..<end])
            start = end
        }
        return result
    }
}

/// A property failed: says which and aborts, so libFuzzer records the input as a crash.
public func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    guard !condition() else { return }
    var text = Array("fuzz property failed (\(file):\(line)): \(message())\n".utf8)
    _ = text.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}

/// Bytes as a Swift string literal body, for failure messages.
public func escaped(_ bytes: some Sequence<UInt8>, limit: Int = 400) -> String {
    var text = ""
    for (index, byte) in bytes.enumerated() {
        if index == limit {
            text += "…"
            break
        }
        switch byte {
        case UInt8(ascii: "\r"): text += "\\r"
        case UInt8(ascii: "\n"): text += "\\n"
        case UInt8(ascii: "\\"): text += "\\\\"
        case UInt8(ascii: "\""): text += "\\\""
        case 0x20..<0x7F: text += String(UnicodeScalar(byte))
        default: text += "\\u{\(String(byte, radix: 16))}"
        }
    }
    return "\"" + text + "\""
}

/// libFuzzer's entry for programs that bring their own `main`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt
) -> CInt

/// Runs libFuzzer on `callback`. A debug build of a SwiftPM executable links `main` to
/// `<Module>_main` (so tests can link the executable), which would take the place of
/// libFuzzer's own `main`; each target defines that symbol and lands here.
public func runLibFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                         _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, callback)
}
