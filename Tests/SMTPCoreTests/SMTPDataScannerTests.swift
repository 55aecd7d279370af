import Testing
@testable import SMTPCore

/// Feeds `input` in pieces of `chunk` bytes, re-offering held-back bytes as a real buffer does.
func scanAll(_ input: [UInt8], chunk: Int, maxLineLength: Int = 1000) -> (body: [UInt8], consumed: Int?, summary: SMTPDataScanner.Summary) {
    var scanner = SMTPDataScanner(maxLineLength: maxLineLength)
    var pending: [UInt8] = []
    var body: [UInt8] = []
    var offset = 0
    var fed = 0
    while fed < input.count {
        let take = min(chunk, input.count - fed)
        pending += input[fed..<fed + take]
        fed += take
        let result = pending.withUnsafeBytes { scanner.scan($0) }
        switch result {
        case .body(let count):
            body += pending[0..<count]
            pending.removeFirst(count)
            offset += count
        case .end(let bodyCount, let consumed):
            body += pending[0..<bodyCount]
            return (body, offset + consumed, scanner.summary)
        }
    }
    return (body, nil, scanner.summary)
}

@Suite struct SMTPDataScannerTests {
    static let cases: [(String, String, Bool)] = [
        // input, expected body (still stuffed), ends?
        ("Subject: x\r\n\r\nhello\r\n.\r\n", "Subject: x\r\n\r\nhello\r\n", true),
        (".\r\n", "", true),
        ("..leading dot\r\n.\r\n", "..leading dot\r\n", true),
        ("a\r\n..\r\n.\r\n", "a\r\n..\r\n", true),
        ("a\r\n.b\r\n.\r\nMAIL FROM", "a\r\n.b\r\n", true),
        ("a\r\n.", "a\r\n", false),
        ("no end yet\r\n", "no end yet\r\n", false),
        // A bare LF never starts a line, so "LF . CR LF" is not an end (smuggling).
        ("a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", true),
        ("a\r\n.\nb\r\n.\r\n", "a\r\n.\nb\r\n", true),
    ]

    @Test(arguments: cases, [1, 2, 3, 7, 4096])
    func findsTheEndWhateverTheChunking(testCase: (String, String, Bool), chunk: Int) {
        let (input, expectedBody, ends) = testCase
        let result = scanAll(Array(input.utf8), chunk: chunk)
        #expect(String(decoding: result.body, as: UTF8.self) == expectedBody)
        #expect((result.consumed != nil) == ends)
        if ends {
            #expect(result.summary.size == expectedBody.utf8.count)
        }
    }

    @Test(arguments: [1, 3, 4096])
    func flagsBareLineEndings(chunk: Int) {
        #expect(scanAll(Array("a\nb\r\n.\r\n".utf8), chunk: chunk).summary.sawBareLineEnding)
        #expect(scanAll(Array("a\rb\r\n.\r\n".utf8), chunk: chunk).summary.sawBareLineEnding)
        #expect(!scanAll(Array("a\r\nb\r\n.\r\n".utf8), chunk: chunk).summary.sawBareLineEnding)
    }

    @Test(arguments: [1, 5, 4096])
    func flagsLinesOverTheLimitCountingCRLF(chunk: Int) {
        let ok = String(repeating: "x", count: 8) + "\r\n.\r\n"     // 10 octets with CRLF
        let long = String(repeating: "x", count: 9) + "\r\n.\r\n"   // 11 octets
        #expect(!scanAll(Array(ok.utf8), chunk: chunk, maxLineLength: 10).summary.sawLongLine)
        #expect(scanAll(Array(long.utf8), chunk: chunk, maxLineLength: 10).summary.sawLongLine)
    }
}
