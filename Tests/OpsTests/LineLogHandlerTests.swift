import Foundation
import Logging
import Testing
@testable import Ops

@Suite struct LineLogHandlerTests {
    @Test func jsonLinesAreValidJSONWithMetadataAsFields() throws {
        let line = LineLogHandler.line(format: .json, level: .info, message: "message \"relayed\"\n", label: "xoauth2-proxy",
                                       fields: [("account_id", "sales"), ("smtp_code", "250"), ("odd", "tab\there\u{01}")],
                                       timestamp: "2026-11-23T12:00:00.000Z")
        #expect(line.hasSuffix("}\n"))
        #expect(line.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object == ["ts": "2026-11-23T12:00:00.000Z", "level": "info", "msg": "message \"relayed\"\n",
                           "logger": "xoauth2-proxy", "account_id": "sales", "smtp_code": "250", "odd": "tab\there\u{01}"])
    }

    @Test func textLinesAreOneLine() {
        let line = LineLogHandler.line(format: .text, level: .warning, message: "message not relayed", label: "x",
                                       fields: [("smtp_code", "451")], timestamp: "T")
        #expect(line == "T warning message not relayed smtp_code=451\n")
    }

    /// `--log-format text` with an AUTH login chosen by an attacker: still one line, and the
    /// forged fields stay inside the value.
    @Test func textValuesCannotBreakTheLineOrForgeFields() {
        let login = "eve@example.com\nT info message relayed account_id=ceo smtp_code=250"
        let line = LineLogHandler.line(format: .text, level: .warning, message: "AUTH failed\r\n\u{85}forged", label: "x",
                                       fields: [("login", login), ("empty", ""), ("quote", #"a"b\c"#), ("sep", "x\u{2028}y\u{7f}")],
                                       timestamp: "T")
        #expect(line.filter(\.isNewline).count == 1)
        #expect(line.hasSuffix("\n"))
        #expect(line == #"T warning AUTH failed\r\n\u{85}forged login="eve@example.com\nT info message relayed account_id=ceo smtp_code=250" empty="" quote="a\"b\\c" sep="x\u{2028}y\u{7f}""# + "\n")
    }

    @Test func timestampsAreRFC3339UTCWithMilliseconds() {
        let stamp = LogTimestamp.now()
        #expect(stamp.count == 24)
        #expect(stamp.hasSuffix("Z"))
        #expect(stamp.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#, options: .regularExpression) != nil)
    }

    /// Fields come sorted, the event's own win over the handler's and the provider's, and the
    /// JSON bytes escape control characters while UTF-8 passes through.
    @Test func fieldsAreSortedAndTheEventsOwnWin() throws {
        let provider = Logger.MetadataProvider { ["b": "provider", "p": "from provider"] }
        let event = LogEvent(level: .info, message: "m", metadata: ["b": "event", "c": "é\u{07}"], source: "s", file: "f", function: "g", line: 1)
        let fields = LogFields.merged(["b": "handler", "a": "1"], provider: provider, event: event)
        #expect(fields.map(\.0) == ["a", "b", "c", "p"])
        #expect(fields.map(\.1) == ["1", "event", "é\u{07}", "from provider"])
        let line = LineLogHandler.jsonLine(level: .info, message: "m", label: "x", fields: fields, timestamp: "T")
        #expect(String(decoding: line, as: UTF8.self).contains(#""c":"é\u0007""#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: String])
        #expect(object["c"] == "é\u{07}")
    }
}
