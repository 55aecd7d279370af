import Logging

enum LogFields {
    /// An event's fields as every handler writes them: the handler's metadata, then the
    /// provider's, then the event's own (later wins), plus the error; sorted by key so lines
    /// are stable to read and to grep.
    static func merged(_ metadata: Logger.Metadata, provider: Logger.MetadataProvider?, event: LogEvent) -> [(String, String)] {
        var merged = metadata
        if let provided = provider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        if let error = event.error { merged["error"] = "\(error)" }
        return merged.keys.sorted().compactMap { key in merged[key].map { (key, $0.description) } }
    }
}
