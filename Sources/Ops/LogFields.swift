import Logging

enum LogFields {
    /// An event's fields as every handler writes them: the handler's metadata, then the
    /// provider's, then the event's own (later wins), plus the error; sorted by key so lines
    /// are stable to read and to grep.
    static func merged(_ metadata: Logger.Metadata, provider: Logger.MetadataProvider?, event: LogEvent) -> [(String, String)] {
        // An array, not a merged dictionary: a line has a handful of fields, and this runs for
        // every relayed message.
        var entries: [(key: String, order: Int, value: Logger.MetadataValue)] = []
        entries.reserveCapacity(metadata.count + (event.metadata?.count ?? 0) + 1)
        func add(_ fields: Logger.Metadata) {
            for (key, value) in fields { entries.append((key, entries.count, value)) }
        }
        add(metadata)
        if let provided = provider?.get() { add(provided) }
        if let explicit = event.metadata { add(explicit) }
        if let error = event.error { entries.append(("error", entries.count, "\(error)")) }
        // Keys compared as bytes: the same order as `<` for the ASCII keys used here, without
        // Unicode collation per comparison.
        entries.sort { $0.key != $1.key ? $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) : $0.order < $1.order }
        var fields: [(String, String)] = []
        fields.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() where index + 1 == entries.count || entries[index + 1].key != entry.key {
            fields.append((entry.key, entry.value.description))
        }
        return fields
    }
}
