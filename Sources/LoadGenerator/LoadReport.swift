import Foundation
import Histogram

/// The result of a run: what the JSON output and the Markdown table need.
public struct LoadReport: Sendable, Codable, Hashable {
    /// Recorded messages (after the warm-up) that finished, whatever the outcome.
    public var messagesSent: Int
    /// Of those, the ones whose end of data was answered 2xx.
    public var messagesAccepted: Int
    /// From the end of the warm-up to the last recorded message's final reply.
    public var elapsedSeconds: Double
    /// Accepted messages per second (goodput; refusals and errors are in `replyCodes`).
    public var messagesPerSecond: Double
    /// Accepted message bytes (the message as the recipient sees it) per second, in 10^6 bytes.
    public var megabytesPerSecond: Double
    /// "p50", "p90", "p99", "p99.9", "max", "min", "mean": from MAIL FROM written (or the
    /// message's slot, at a fixed rate) to the final reply, over every recorded message.
    public var latencyMicroseconds: [String: UInt64]
    /// Final reply code of each recorded message ("250", "451", ...), "error" for transport failures.
    public var replyCodes: [String: Int]
    /// Sessions that could not connect, were refused AUTH, or lost their connection (warm-up included).
    public var connectionErrors: Int
    /// The same, by reason ("connect: ...", "auth 535", "dropped: ...").
    public var connectionErrorReasons: [String: Int]
    /// The options of the run, without secrets.
    public var options: [String: String]

    public init(messagesSent: Int, messagesAccepted: Int, elapsedSeconds: Double, messagesPerSecond: Double,
                megabytesPerSecond: Double, latencyMicroseconds: [String: UInt64], replyCodes: [String: Int],
                connectionErrors: Int, connectionErrorReasons: [String: Int] = [:], options: [String: String]) {
        self.messagesSent = messagesSent
        self.messagesAccepted = messagesAccepted
        self.elapsedSeconds = elapsedSeconds
        self.messagesPerSecond = messagesPerSecond
        self.megabytesPerSecond = megabytesPerSecond
        self.latencyMicroseconds = latencyMicroseconds
        self.replyCodes = replyCodes
        self.connectionErrors = connectionErrors
        self.connectionErrorReasons = connectionErrorReasons
        self.options = options
    }

    /// Summarises merged results: percentiles from the histogram, rates over the elapsed time.
    init(totals: RunTotals, options: [String: String]) {
        var codes: [String: Int] = [:]
        var sent = totals.transportErrors
        var accepted = 0
        for (code, count) in totals.replyCodes where count > 0 {
            codes[String(code)] = count
            sent += count
            if (200..<300).contains(code) { accepted += count }
        }
        if totals.transportErrors > 0 { codes["error"] = totals.transportErrors }
        let elapsed = max(0, totals.elapsedSeconds)
        let perSecond = elapsed > 0 ? Double(accepted) / elapsed : 0
        self.init(
            messagesSent: sent,
            messagesAccepted: accepted,
            elapsedSeconds: elapsed,
            messagesPerSecond: perSecond,
            megabytesPerSecond: perSecond * Double(totals.messageSize) / 1_000_000,
            latencyMicroseconds: Self.latencies(totals.histogram),
            replyCodes: codes,
            connectionErrors: totals.connectionErrors,
            connectionErrorReasons: totals.connectionErrorReasons,
            options: options)
    }

    static func latencies(_ histogram: Histogram<UInt64>) -> [String: UInt64] {
        guard histogram.totalCount > 0 else {
            return ["p50": 0, "p90": 0, "p99": 0, "p99.9": 0, "max": 0, "min": 0, "mean": 0]
        }
        return [
            "p50": histogram.valueAtPercentile(50),
            "p90": histogram.valueAtPercentile(90),
            "p99": histogram.valueAtPercentile(99),
            "p99.9": histogram.valueAtPercentile(99.9),
            "max": histogram.maxRecorded,
            "min": histogram.min,
            "mean": UInt64(histogram.mean.rounded()),
        ]
    }

    /// Messages that were not accepted plus connection errors.
    public var errors: Int { messagesSent - messagesAccepted + connectionErrors }

    /// The header of the Markdown table whose rows `markdownRow(name:)` gives.
    public static let markdownHeader = """
        | name | msg/s | MB/s | p50 ms | p99 ms | errors |
        |---|---:|---:|---:|---:|---:|
        """

    /// `| name | msg/s | MB/s | p50 ms | p99 ms | errors |`
    public func markdownRow(name: String) -> String {
        let p50 = Double(latencyMicroseconds["p50"] ?? 0) / 1000
        let p99 = Double(latencyMicroseconds["p99"] ?? 0) / 1000
        let cells = [
            name.replacingOccurrences(of: "|", with: "\\|"),
            Self.fixed(messagesPerSecond, 1),
            Self.fixed(megabytesPerSecond, 2),
            Self.fixed(p50, 2),
            Self.fixed(p99, 2),
            String(errors),
        ]
        return "| " + cells.joined(separator: " | ") + " |"
    }

    /// Pretty-printed JSON with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int64((abs(value) * scale).rounded())
        let whole = scaled / Int64(scale)
        let fraction = scaled % Int64(scale)
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(whole) }
        let digits = String(fraction)
        return sign + String(whole) + "." + String(repeating: "0", count: decimals - digits.count) + digits
    }
}

/// About once a second during a run.
public struct LoadProgress: Sendable, Hashable {
    /// Since the start of the run (warm-up included).
    public var elapsedSeconds: Double
    public var warmingUp: Bool
    /// Recorded messages finished so far (0 during the warm-up).
    public var sent: Int
    public var accepted: Int
    /// Recorded messages not accepted (refused or failed).
    public var errors: Int
    public var connectionErrors: Int
    /// Messages finished per second over the last interval, warm-up included.
    public var messagesPerSecond: Double

    public init(elapsedSeconds: Double, warmingUp: Bool, sent: Int, accepted: Int, errors: Int,
                connectionErrors: Int, messagesPerSecond: Double) {
        self.elapsedSeconds = elapsedSeconds
        self.warmingUp = warmingUp
        self.sent = sent
        self.accepted = accepted
        self.errors = errors
        self.connectionErrors = connectionErrors
        self.messagesPerSecond = messagesPerSecond
    }
}
