import Logging

/// One log event per line, as JSON or as text.
///
/// JSON: `ts` (RFC 3339 UTC, milliseconds), `level`, `msg`, `logger`, then the metadata as
/// top-level string fields. Text: `2026-11-23T12:00:00.000Z info msg key=value ...`.
/// Lines are written whole under one lock so concurrent sessions never interleave.
public struct LineLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
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
        let fields = LogFields.merged(metadata, provider: metadataProvider, event: event)
        sink.write(Self.line(format: format, level: event.level, message: event.message.description,
                             label: label, fields: fields, timestamp: LogTimestamp.now()))
    }

    static func line(format: LogFormat, level: Logger.Level, message: String, label: String,
                     fields: [(String, String)], timestamp: String) -> String {
        switch format {
        case .json:
            var line = "{\"ts\":\"\(timestamp)\",\"level\":\"\(level.rawValue)\",\"msg\":"
            JSONText.appendString(message, to: &line)
            line += ",\"logger\":"
            JSONText.appendString(label, to: &line)
            for (key, value) in fields {
                line += ","
                JSONText.appendString(key, to: &line)
                line += ":"
                JSONText.appendString(value, to: &line)
            }
            return line + "}\n"
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
