import Testing
@testable import SMTPCore

/// The scanner's fast paths (sixteen bytes per step, a whole CR LF and the next line's first
/// byte at once) against the rules written out byte by byte, over generated bodies made of
/// the bytes that matter (CR, LF, ".") and long runs of ordinary text, in every chunking.
@Suite struct SMTPDataScannerReferenceTests {
    /// The rules, plainly: the body ends at the first "." line after a CR LF (or at the start);
    /// a CR not followed by LF or an LF not after CR is bare; a line over `max` octets with its
    /// CR LF is long. Only what comes before the end counts.
    static func reference(_ input: [UInt8], max: Int) -> (end: Int?, bodyCount: Int, bare: Bool, long: Bool) {
        var bare = false, long = false
        var lineStart = 0
        var index = 0
        while index < input.count {
            if index == lineStart, index + 2 < input.count, input[index] == UInt8(ascii: "."), input[index + 1] == UInt8(ascii: "\r"), input[index + 2] == UInt8(ascii: "\n") {
                return (index + 3, lineStart, bare, long)
            }
            let byte = input[index]
            if byte == UInt8(ascii: "\r"), index + 1 < input.count, input[index + 1] == UInt8(ascii: "\n") {
                if index + 2 - lineStart > max { long = true }
                index += 2
                lineStart = index
                continue
            }
            if byte == UInt8(ascii: "\n") || (byte == UInt8(ascii: "\r") && index + 1 < input.count) { bare = true }
            index += 1
        }
        if input.count - lineStart > max { long = true }
        return (nil, input.count, bare, long)
    }

    /// A small deterministic generator, so a failure names its seed and replays.
    struct Generator {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    static func body(seed: UInt64) -> [UInt8] {
        var generator = Generator(state: seed)
        var bytes: [UInt8] = []
        for _ in 0..<generator.next(40) {
            switch generator.next(9) {
            case 0: bytes += Array("\r\n".utf8)
            case 1: bytes += Array("\r\n.".utf8)
            case 2: bytes.append(UInt8(ascii: "\r"))
            case 3: bytes.append(UInt8(ascii: "\n"))
            case 4: bytes.append(UInt8(ascii: "."))
            // Lines around the limit (24 with CR LF below).
            case 5: bytes += Array("\r\n".utf8) + Array(repeating: UInt8(ascii: "x"), count: 21 + generator.next(5)) + Array("\r\n".utf8)
            default: bytes += Array(repeating: UInt8(ascii: "a") + UInt8(generator.next(26)), count: 1 + generator.next(40))
            }
        }
        return bytes + Array("\r\n.\r\n".utf8)
    }

    @Test(arguments: 0..<1000)
    func agreesWithTheRulesInEveryChunking(seed: Int) {
        let input = Self.body(seed: UInt64(seed))
        let expected = Self.reference(input, max: 24)
        for chunk in [1, 2, 7, 16, 17, 4096] {
            let result = scanAll(input, chunk: chunk, maxLineLength: 24)
            #expect(result.consumed == expected.end, "seed \(seed) chunk \(chunk)")
            #expect(result.body.count == expected.bodyCount, "seed \(seed) chunk \(chunk)")
            #expect(result.summary.sawBareLineEnding == expected.bare, "seed \(seed) chunk \(chunk)")
            #expect(result.summary.sawLongLine == expected.long, "seed \(seed) chunk \(chunk)")
        }
    }
}
