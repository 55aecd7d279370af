/// Just enough of the Prometheus text format (0.0.4) to catch a broken emitter: every line is a
/// comment or `name{labels} value`.
enum ExpositionFormat {
    static func invalidLines(_ text: String) -> [Substring] {
        let sample = #/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+]?([0-9.eE+-]+|Inf|NaN)$/#
        let comment = #/^# (TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)|HELP .*)$/#
        return text.split(separator: "\n").filter { line in
            line.wholeMatch(of: sample) == nil && line.wholeMatch(of: comment) == nil
        }
    }

    /// The sample value of one series (`name{labels}` as emitted), or nil when it is absent.
    static func value(of series: String, in text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
    }
}
