import NIOCore
import SMTPCore
import Testing
@testable import LoadGenerator

@Suite struct BenchMessageTests {
    /// The message split into lines; fails the test on a bare CR or LF or a missing final CRLF.
    private func lines(_ bytes: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\r"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") {
                lines.append(current)
                current = []
                index += 2
                continue
            }
            #expect(byte != UInt8(ascii: "\r") && byte != UInt8(ascii: "\n"), "bare CR or LF at \(index)")
            current.append(byte)
            index += 1
        }
        #expect(current.isEmpty, "message does not end with CRLF")
        return lines
    }

    @Test(arguments: [10, 100, 300, 512, 1000, 1024, 4096, 10_240, 65_536, 1_000_000])
    func sizeIsWithinOnePercentAndLinesAreShort(size: Int) {
        let message = BenchMessage(size: size, from: "alice@example.com")
        let error = abs(message.message.count - size)
        #expect(Double(error) <= Double(size) * 0.01, "asked \(size), got \(message.message.count)")
        for line in lines(message.message) {
            #expect(line.count <= 78, "line of \(line.count) characters")
            #expect(line.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "non-printable byte")
        }
    }

    @Test func everySizeAroundTheHeaderBlockComesOutExact() {
        // Body lengths of 0 ... 200 bytes beyond the headers, including the awkward 1-byte rest.
        let headerBlock = BenchMessage.build(size: 10_000, from: "a@b.c").firstRange(of: Array("\r\n\r\n".utf8))!.upperBound
        #expect(headerBlock > 200)
        for size in headerBlock...(headerBlock + 200) {
            let message = BenchMessage.build(size: size, from: "a@b.c")
            #expect(message.count == size, "asked \(size), got \(message.count)")
            #expect(lines(message).allSatisfy { $0.count <= 78 })
        }
    }

    @Test func headersComeFirstAndNameTheSender() throws {
        let message = String(decoding: BenchMessage.build(size: 2000, from: "alice@example.com"), as: UTF8.self)
        #expect(message.hasPrefix("From: <alice@example.com>\r\n"))
        #expect(message.contains("\r\nSubject: "))
        #expect(message.contains("\r\n\r\n"))
    }

    @Test func bodyHasDotLinesIncludingALoneDot() {
        let message = BenchMessage(size: 10_240, from: "alice@example.com")
        let all = lines(message.message)
        let dotLines = all.filter { $0.first == UInt8(ascii: ".") }
        #expect(dotLines.count >= 5)
        #expect(all.contains([UInt8(ascii: ".")]), "no line that is a lone dot")
        // Even a small message exercises stuffing.
        let small = lines(BenchMessage(size: 600, from: "a@b.c").message)
        #expect(small.contains { $0.first == UInt8(ascii: ".") })
    }

    @Test func wireFormIsStuffedAndEndsWithCRLF() {
        let message = BenchMessage(size: 10_240, from: "alice@example.com")
        let wire = Array(message.wire.readableBytesView)
        #expect(wire.suffix(2) == [UInt8(ascii: "\r"), UInt8(ascii: "\n")])
        #expect(wire.count == message.message.count + lines(message.message).filter { $0.first == UInt8(ascii: ".") }.count)
        #expect(DotStuffing.unstuff(wire) == message.message)
        #expect(lines(wire).contains(Array("..".utf8)), "the lone dot was not stuffed")
        #expect(message.wireSize == wire.count)
    }

    @Test func aServerFindsTheEndOfDataExactlyAfterTheWireBody() {
        let message = BenchMessage(size: 10_240, from: "alice@example.com")
        var bytes = Array(message.wire.readableBytesView)
        bytes += Array(".\r\n".utf8)
        var scanner = SMTPDataScanner()
        let result = bytes.withUnsafeBytes { scanner.scan($0) }
        #expect(result == .end(bodyCount: message.wireSize, consumed: bytes.count))
        #expect(!scanner.summary.sawLongLine)
        #expect(!scanner.summary.sawBareLineEnding)
    }
}
