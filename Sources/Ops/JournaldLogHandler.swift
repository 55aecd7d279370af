#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// Sends each event to journald as a structured record (see `JournaldFields`), so `journalctl`
/// can filter on PRIORITY and on metadata such as ACCOUNT_ID without parsing text.
///
/// sd_journal_sendv is one datagram per event on a socket journald drains continuously, the same
/// cost as a line on stdout; it is thread-safe, so the handler needs no lock of its own.
public struct JournaldLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let send: @Sendable ([String]) -> Int32
    private let fallback: LogSink

    /// The socket libsystemd writes to; sd_journal_sendv reports success when it is missing.
    public static let socketPath = "/run/systemd/journal/socket"

    public init(label: String, library: SystemdLibrary) {
        self.init(label: label, send: { Self.sendv($0, library: library) }, fallback: .standardError)
    }

    init(label: String, send: @escaping @Sendable ([String]) -> Int32, fallback: LogSink) {
        self.label = label
        self.send = send
        self.fallback = fallback
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let pairs = LogFields.merged(metadata, provider: metadataProvider, event: event)
        let message = event.message.description
        let fields = JournaldFields.fields(level: event.level, message: message, label: label, metadata: pairs,
                                           file: event.file, function: event.function, line: event.line)
        if send(fields) < 0 {
            // Journald refused the record (too large, or the socket went away): keep the event on
            // stderr, which a systemd unit also routes to the journal, rather than lose it.
            fallback.write(LineLogHandler.line(format: .json, level: event.level, message: message, label: label,
                                               fields: pairs, timestamp: LogTimestamp.now()))
        }
    }

    /// One iovec per field, all pointing into a single buffer that outlives the call.
    static func sendv(_ fields: [String], library: SystemdLibrary) -> Int32 {
        var bytes: [UInt8] = []
        var ranges: [Range<Int>] = []
        for field in fields {
            let start = bytes.count
            bytes.append(contentsOf: field.utf8)
            ranges.append(start..<bytes.count)
        }
        return bytes.withUnsafeMutableBytes { buffer in
            let vectors = ranges.map { range in
                iovec(iov_base: buffer.baseAddress.map { $0 + range.lowerBound }, iov_len: range.count)
            }
            return vectors.withUnsafeBufferPointer { library.journalSendv($0.baseAddress, Int32($0.count)) }
        }
    }
}
