import Foundation
import Testing
@testable import LoadGenerator

@Suite struct LoadReportTests {
    private func totals(samples: some Sequence<UInt64>, codes: [Int: Int], errors: Int = 0, elapsed: Double) -> RunTotals {
        var totals = RunTotals()
        for sample in samples { totals.histogram.record(sample) }
        totals.replyCodes = codes
        totals.transportErrors = errors
        totals.elapsedSeconds = elapsed
        totals.messageSize = 10_000
        return totals
    }

    @Test func percentilesOfAKnownSet() {
        let report = LoadReport(totals: totals(samples: 1...1000, codes: [250: 1000], elapsed: 2), options: [:])
        #expect(report.latencyMicroseconds == [
            "p50": 500, "p90": 900, "p99": 990, "p99.9": 999, "max": 1000, "min": 1, "mean": 501,
        ])
    }

    @Test func percentilesKeepThreeSignificantDigitsOfLargeValues() {
        // 99 fast messages and one of 12.345 s.
        let samples = Array(repeating: UInt64(2_000), count: 99) + [12_345_000]
        let report = LoadReport(totals: totals(samples: samples, codes: [250: 100], elapsed: 1), options: [:])
        #expect(report.latencyMicroseconds["p50"] == 2_000)
        #expect(report.latencyMicroseconds["p99"] == 2_000)
        #expect(report.latencyMicroseconds["max"] == 12_345_000)
        let p999 = report.latencyMicroseconds["p99.9"] ?? 0
        #expect(abs(Double(p999) - 12_345_000) / 12_345_000 < 0.001)
    }

    @Test func ratesCountAcceptedMessagesOverTheElapsedTime() {
        let report = LoadReport(totals: totals(samples: [1000], codes: [250: 300, 451: 20, 550: 5], errors: 7, elapsed: 2.5),
                                options: ["connections": "10"])
        #expect(report.messagesSent == 332)
        #expect(report.messagesAccepted == 300)
        #expect(report.messagesPerSecond == 120)
        #expect(abs(report.megabytesPerSecond - 1.2) < 1e-9)
        #expect(report.replyCodes == ["250": 300, "451": 20, "550": 5, "error": 7])
        #expect(report.elapsedSeconds == 2.5)
    }

    @Test func anEmptyRunReportsZeroesNotNaN() {
        let report = LoadReport(totals: RunTotals(), options: [:])
        #expect(report.messagesPerSecond == 0)
        #expect(report.latencyMicroseconds["p99"] == 0)
        #expect(report.replyCodes.isEmpty)
        #expect(report.markdownRow(name: "none") == "| none | 0.0 | 0.00 | 0.00 | 0.00 | 0 |")
    }

    @Test func markdownRowHasTheColumnsOfTheHeader() {
        var report = LoadReport(totals: totals(samples: [1_234, 5_678], codes: [250: 2], elapsed: 1), options: [:])
        report.messagesPerSecond = 1234.56
        report.megabytesPerSecond = 12.345
        report.latencyMicroseconds["p50"] = 1_234
        report.latencyMicroseconds["p99"] = 56_789
        report.connectionErrors = 3
        report.messagesSent = 10
        report.messagesAccepted = 8
        #expect(report.markdownRow(name: "proxy a|b") == "| proxy a\\|b | 1234.6 | 12.35 | 1.23 | 56.79 | 5 |")
        #expect(LoadReport.markdownHeader.hasPrefix("| name | msg/s | MB/s | p50 ms | p99 ms | errors |\n"))
        let columns = { (line: String) in line.split(separator: "|", omittingEmptySubsequences: false).count }
        #expect(columns(report.markdownRow(name: "x")) == columns("| name | msg/s | MB/s | p50 ms | p99 ms | errors |"))
    }

    @Test func jsonIsPrettySortedAndRoundTrips() throws {
        let report = LoadReport(totals: totals(samples: [10, 20], codes: [250: 2], elapsed: 1), options: ["port": "2525", "host": "127.0.0.1"])
        let data = try report.jsonData()
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\n  \"connectionErrors\" : 0,"))
        let keys = ["connectionErrorReasons", "connectionErrors", "elapsedSeconds", "latencyMicroseconds", "megabytesPerSecond",
                    "messagesAccepted", "messagesPerSecond", "messagesSent", "options", "replyCodes"]
        let positions = keys.map { text.range(of: "\n  \"\($0)\"")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        #expect(try JSONDecoder().decode(LoadReport.self, from: data) == report)
    }
}

@Suite struct LoadOptionsTests {
    @Test func defaultsAreValid() throws {
        try LoadOptions().validate()
    }

    @Test(arguments: [
        { (o: inout LoadOptions) in o.connections = 0 },
        { (o: inout LoadOptions) in o.port = 0 },
        { (o: inout LoadOptions) in o.stop = .messages(0) },
        { (o: inout LoadOptions) in o.stop = .duration(.zero) },
        { (o: inout LoadOptions) in o.rate = 0 },
        { (o: inout LoadOptions) in o.rate = .infinity },
        { (o: inout LoadOptions) in o.recipients = 0 },
        { (o: inout LoadOptions) in o.messageSize = 0 },
        { (o: inout LoadOptions) in o.caFile = "/tmp/ca.pem" },
        { (o: inout LoadOptions) in o.messagesPerSession = -1 },
        { (o: inout LoadOptions) in o.credentials = [(user: "", secret: "x")] },
    ] as [@Sendable (inout LoadOptions) -> Void])
    func invalidOptionsAreRefused(change: @Sendable (inout LoadOptions) -> Void) {
        var options = LoadOptions()
        change(&options)
        #expect(throws: LoadOptions.ValidationError.self) { try options.validate() }
    }

    @Test func echoCarriesNoSecrets() {
        var options = LoadOptions()
        options.credentials = [(user: "alice@example.com", secret: "hunter2-secret"), (user: "bob@example.com", secret: "token-xyz")]
        options.authMechanism = .xoauth2
        options.stop = .duration(.seconds(30))
        options.rate = 250
        options.warmup = .milliseconds(1500)
        let echo = options.echo
        #expect(echo["auth"] == "xoauth2")
        #expect(echo["credentials"] == "2")
        #expect(echo["stop"] == "duration=30s")
        #expect(echo["rate"] == "250")
        #expect(echo["warmup"] == "1.5s")
        let all = echo.keys.joined() + echo.values.joined()
        #expect(!all.contains("hunter2") && !all.contains("token-xyz"))
    }
}
