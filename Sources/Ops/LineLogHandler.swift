import Logging

/// One log event per line, as JSON or as text.
///
/// JSON: `ts` (RFC 3339 UTC, milliseconds), `level`, `msg`, `logger`, then the metadata as
/// top-level string fields. Text: `2026-11-23T12:00:00.000Z info msg key=value ...`.
/// Lines are written whole under one lock so concurrent sessions never interleave.
public struct LineLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:] {
        didSet { sortedMetadata = LogFields.sorted(metadata) }
    }
    /// `metadata` rendered and sorted once per change: a session's logger writes many lines.
    private var sortedMetadata: [(String, String)] = []
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat
    private let sink: LogSink

    public init(label: String, format: LogFormat, sink: LogSink = .standardOutput) {
        self.label = label
        self.format = format
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let fields = LogFields.merged(sorted: sortedMetadata, provider: metadataProvider, event: event)
        switch format {
        case .json:
            // Built as bytes: this runs once per relayed message, and String appends cost
            // several times as much.
            sink.write(bytes: Self.jsonLine(level: event.level, message: event.message.description, label: label, fields: fields))
        case .text:
            sink.write(Self.line(format: format, level: event.level, message: event.message.description,
                                 label: label, fields: fields, timestamp: LogTimestamp.now()))
        }
    }

    static func jsonLine(level: Logger.Level, message: String, label: String, fields: [(String, String)],
                         timestamp: String? = nil) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(contentsOf: #"{"ts":""#.utf8)
        if let timestamp { line.append(contentsOf: timestamp.utf8) } else { LogTimestamp.append(to: &line) }
        line.append(contentsOf: #"","level":""#.utf8)
        line.append(contentsOf: level.rawValue.utf8)
        line.append(contentsOf: #"","msg":"#.utf8)
        JSONText.appendString(message, to: &line)
        line.append(contentsOf: #","logger":"#.utf8)
        JSONText.appendString(label, to: &line)
        for (key, value) in fields {
            line.append(UInt8(ascii: ","))
            JSONText.appendString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            JSONText.appendString(value, to: &line)
        }
        line.append(contentsOf: "}\n".utf8)
        return line
    }

    static func line(format: LogFormat, level: Logger.Level, message: String, label: String,
                     fields: [(String, String)], timestamp: String) -> String {
        switch format {
        case .json:
            return String(decoding: jsonLine(level: level, message: message, label: label, fields: fields, timestamp: timestamp), as: UTF8.self)
        case .text:
            // Values come from outside (an AUTH login, a provider's reply): one event stays one
            // line, and a value cannot pose as another field.
            var line = "\(timestamp) \(level.rawValue) "
            TextLogValue.appendEscaped(message, to: &line)
            for (key, value) in fields {
                line += " \(key)="
                TextLogValue.append(value, to: &line)
            }
            return line + "\n"
        }
    }
}
