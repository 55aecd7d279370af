import NIOCore
import Testing
@testable import SMTPCore

@Suite struct DotStuffingTests {
    /// RFC 5321 4.5.2 stated byte by byte: the reference the run-copying version must match.
    private static func referenceUnstuff(_ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
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

    @Test(arguments: [
        ("", ""),
        (".", ""),
        ("..", "."),
        ("..x\r\n", ".x\r\n"),
        ("a\r\n..b\r\n", "a\r\n.b\r\n"),
        ("a\r\n.\r\n", "a\r\n\r\n"),
        ("a\n.b\r\n", "a\n.b\r\n"),
        ("a\r.b\r\n", "a\r.b\r\n"),
        ("x.y\r\n.\r\n..\r\n", "x.y\r\n\r\n.\r\n"),
        ("\r\n.", "\r\n"),
    ])
    func unstuffRemovesOneDotAtTheStartOfEachLine(wire: String, message: String) {
        #expect(DotStuffing.unstuff(Array(wire.utf8)) == Array(message.utf8))
        #expect(DotStuffing.unstuff(ByteBuffer(string: wire).readableBytesView) == Array(message.utf8))
    }

    @Test func unstuffMatchesTheReferenceAndUndoesStuff() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array(".\r\nab".utf8)
        for _ in 0..<2000 {
            let length = Int.random(in: 0..<40, using: &generator)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            #expect(DotStuffing.unstuff(bytes) == Self.referenceUnstuff(bytes), "\(bytes)")
            let stuffed = DotStuffing.stuff(bytes)
            // stuff appends a CRLF when the message does not end in one.
            let endsInCRLF = bytes.count >= 2 && bytes.suffix(2) == [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
            #expect(DotStuffing.unstuff(stuffed) == bytes + (endsInCRLF ? [] : Array("\r\n".utf8)), "\(bytes)")
        }
    }
}
