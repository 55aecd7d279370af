import Logging

enum LogFields {
    /// Metadata as sorted key/value text: a handler keeps its own this way, rendered once when
    /// it changes rather than for every line.
    static func sorted(_ metadata: Logger.Metadata) -> [(String, String)] {
        metadata.map { ($0.key, $0.value.description) }.sorted { $0.0 < $1.0 }
    }

    /// An event's fields as every handler writes them: the handler's metadata, then the
    /// provider's, then the event's own (later wins), plus the error; sorted by key so lines
    /// are stable to read and to grep.
    static func merged(_ metadata: Logger.Metadata, provider: Logger.MetadataProvider?, event: LogEvent) -> [(String, String)] {
        merged(sorted: sorted(metadata), provider: provider, event: event)
    }

    /// The same with the handler's metadata already sorted: the per-line work is then only the
    /// event's few fields and one merge of two sorted lists.
    static func merged(sorted handler: [(String, String)], provider: Logger.MetadataProvider?, event: LogEvent) -> [(String, String)] {
        var own = event.metadata ?? [:]
        if let provided = provider?.get() { own = provided.merging(own) { $1 } }
        if let error = event.error { own["error"] = "\(error)" }
        guard !own.isEmpty else { return handler }
        let event = sorted(own)
        var fields: [(String, String)] = []
        fields.reserveCapacity(handler.count + event.count)
        var left = 0, right = 0
        while left < handler.count || right < event.count {
            if right == event.count || (left < handler.count && handler[left].0 < event[right].0) {
                fields.append(handler[left])
                left += 1
            } else {
                // Equal keys: the event's (or provider's) value wins over the handler's.
                if left < handler.count, handler[left].0 == event[right].0 { left += 1 }
                fields.append(event[right])
                right += 1
            }
        }
        return fields
    }
}
